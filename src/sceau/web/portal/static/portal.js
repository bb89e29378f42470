/* Progressive enhancement only: every rule is checked again on the server. */
(function () {
  "use strict";
  var INSI = ["INSI-AUTO", "INSI-MANU"];
  var SERVICE = /^[\p{L}\p{N}_][\p{L}\p{N}_ .'’()&+\/:@,-]*$/u;

  function checkService(input, output) {
    var value = input.value;
    var insi = input.getAttribute("data-insi") === "true";
    var message = "", ok = false;
    var folded = value.trim().toUpperCase().replace(/[\s_]+/g, "-");
    if (!value) {
      message = "Le service applicatif est obligatoire.";
    } else if (insi || (INSI.indexOf(folded) >= 0 && INSI.indexOf(value) < 0)) {
      if (INSI.indexOf(value) >= 0) { ok = true; message = "Nom INSi conforme."; }
      else {
        message = "Pour l'INSi, saisir exactement INSI-AUTO (automatisé / batch) ou INSI-MANU (manuel)" +
          (INSI.indexOf(folded) >= 0 ? " — vouliez-vous dire " + folded + " ? (majuscules, tiret, sans espace)" : "") + ".";
      }
    } else if (value !== value.trim() || value.indexOf("  ") >= 0) {
      message = "Pas d'espace au début, à la fin ni d'espaces doubles.";
    } else if (value.length > 64) {
      message = "64 caractères au plus (" + value.length + " saisis).";
    } else if (!SERVICE.test(value)) {
      message = "Caractères non admis : lettres, chiffres, espace et . ' ( ) & + / : @ , _ - seulement.";
    } else { ok = true; message = "Service applicatif conforme."; }
    output.textContent = message;
    output.className = "controle " + (ok ? "ok" : "ko");
    input.setAttribute("aria-invalid", ok ? "false" : "true");
  }

  document.addEventListener("DOMContentLoaded", function () {
    var input = document.getElementById("service_applicatif");
    var output = document.getElementById("controle-service");
    if (input && output) {
      input.addEventListener("input", function () { checkService(input, output); });
      if (input.value) { checkService(input, output); }
    }
    var errors = document.getElementById("erreurs");
    if (errors) { errors.focus(); }
  });
})();
