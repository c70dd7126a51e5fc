"""Banks (hash lists), their import/export, and the in-memory match index over them."""

from orbweaver.banks.service import (
    BankError,
    ImportReport,
    create_bank,
    ensure_bank,
    export_csv,
    import_csv,
    list_banks,
    set_enabled,
    set_threshold,
)

__all__ = [
    "BankError",
    "ImportReport",
    "create_bank",
    "ensure_bank",
    "export_csv",
    "import_csv",
    "list_banks",
    "set_enabled",
    "set_threshold",
]
