"""The vendor / pharmacy side: keys and CSR by the naming rules, fetch, install, check, fleet."""
