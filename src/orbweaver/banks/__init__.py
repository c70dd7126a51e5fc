"""The banks stage (docs/architecture.md): banks (hash lists), their import/export, and the
matcher over them.

Public surface: banks and their entries (`create_bank`, `ensure_bank`, `list_banks`,
`set_enabled`, `set_threshold`, `add_entries` with `EntryRow`, `import_csv` with `ImportReport`,
`export_csv`, `BankError`; `import_list` for the IWF's and Project VIC's list formats) and
matching (`Matcher`: one index per registered signal type, the
indexes themselves being the signal types'; `Match`, one hit).

Nothing is imported until used (`orbweaver._lazy`), so importing the package stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from orbweaver._lazy import lazy_exports

if TYPE_CHECKING:
    from orbweaver.banks.formats import LIST_FORMATS, import_list
    from orbweaver.banks.matcher import Match, Matcher
    from orbweaver.banks.service import (
        BankError,
        EntryRow,
        ImportReport,
        add_entries,
        create_bank,
        ensure_bank,
        export_csv,
        import_csv,
        list_banks,
        set_enabled,
        set_threshold,
    )
else:
    __getattr__, __dir__ = lazy_exports(
        __name__,
        {
            ".formats": ["LIST_FORMATS", "import_list"],
            ".matcher": ["Match", "Matcher"],
            ".service": [
                "BankError",
                "EntryRow",
                "ImportReport",
                "add_entries",
                "create_bank",
                "ensure_bank",
                "export_csv",
                "import_csv",
                "list_banks",
                "set_enabled",
                "set_threshold",
            ],
        },
    )

__all__ = [
    "LIST_FORMATS",
    "BankError",
    "EntryRow",
    "ImportReport",
    "Match",
    "Matcher",
    "add_entries",
    "create_bank",
    "ensure_bank",
    "export_csv",
    "import_csv",
    "import_list",
    "list_banks",
    "set_enabled",
    "set_threshold",
]
