"""The banks stage (docs/architecture.md): banks (hash lists), their import/export, and the
matcher over them.

Public surface: banks and their entries (`create_bank`, `ensure_bank`, `list_banks`,
`set_enabled`, `set_threshold`, `add_entries` with `EntryRow`, `import_csv` with `ImportReport`,
`export_csv`, `BankError`; `import_list` for the IWF's and Project VIC's list formats),
signal quality (`set_distance`, `set_entry_enabled`, negative banks, flood quarantine with
`check_floods` and `release_entry`, `explain_matches`), retroactive matching
(`match_new_entries`) and matching (`Matcher`: one index per registered signal type, the
indexes themselves being the signal types'; `Match`, one hit).

Nothing is imported until used (`orbweaver._lazy`), so importing the package stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from orbweaver._lazy import lazy_exports

if TYPE_CHECKING:
    from orbweaver.banks.formats import LIST_FORMATS, import_list
    from orbweaver.banks.matcher import Match, Matcher, MatchResult
    from orbweaver.banks.quality import (
        BANK_KINDS,
        FloodPolicy,
        check_floods,
        explain_entries,
        explain_matches,
        release_entry,
        set_distance,
        set_entry_enabled,
    )
    from orbweaver.banks.retro import RetroReport, match_new_entries
    from orbweaver.banks.service import (
        BankError,
        EntryRow,
        ImportReport,
        add_entries,
        add_entries_ids,
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
            ".matcher": ["Match", "Matcher", "MatchResult"],
            ".quality": [
                "BANK_KINDS",
                "FloodPolicy",
                "check_floods",
                "explain_entries",
                "explain_matches",
                "release_entry",
                "set_distance",
                "set_entry_enabled",
            ],
            ".retro": ["RetroReport", "match_new_entries"],
            ".formats": ["LIST_FORMATS", "import_list"],
            ".service": [
                "BankError",
                "EntryRow",
                "ImportReport",
                "add_entries",
                "add_entries_ids",
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
    "BANK_KINDS",
    "LIST_FORMATS",
    "BankError",
    "EntryRow",
    "FloodPolicy",
    "ImportReport",
    "Match",
    "MatchResult",
    "Matcher",
    "RetroReport",
    "add_entries",
    "add_entries_ids",
    "check_floods",
    "create_bank",
    "ensure_bank",
    "explain_entries",
    "explain_matches",
    "export_csv",
    "import_csv",
    "import_list",
    "list_banks",
    "match_new_entries",
    "release_entry",
    "set_distance",
    "set_enabled",
    "set_entry_enabled",
    "set_threshold",
]
