"""Storage: SQLAlchemy tables, repositories (every query lives there), the unit of work."""
