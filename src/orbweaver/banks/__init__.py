"""Banks (hash lists), their import/export, and the matcher over them (`banks.matcher`: one
index per registered signal type, the indexes themselves being the signal types')."""

from orbweaver.banks.matcher import Matcher
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
    "Matcher",
    "create_bank",
    "ensure_bank",
    "export_csv",
    "import_csv",
    "list_banks",
    "set_enabled",
    "set_threshold",
]
