//! Everything a key can do. The snake_case names are the keymap's vocabulary.

use serde::{Deserialize, Serialize};

/// A user action, bound to keys by the keymap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    MoveDown,
    MoveUp,
    PageDown,
    PageUp,
    Top,
    Bottom,
    NextPending,
    Accept,
    Reject,
    Edit,
    EditExternal,
    Undo,
    Note,
    Flag,
    ToggleSelect,
    SelectAll,
    Filter,
    Clear,
    CycleSort,
    NextTab,
    PrevTab,
    TabPending,
    TabAccepted,
    TabRejected,
    TabEdited,
    TabAll,
    ToggleDiff,
    Reload,
    ScrollDown,
    ScrollUp,
    Generate,
    CancelJob,
    Help,
    Quit,
    Confirm,
    Cancel,
    Save,
    NextField,
    Close,
    Increase,
    Decrease,
}

impl Action {
    /// The help text for this action.
    pub fn describe(self) -> &'static str {
        use Action::*;
        match self {
            MoveDown => "next sample",
            MoveUp => "previous sample",
            PageDown => "page down",
            PageUp => "page up",
            Top => "first sample",
            Bottom => "last sample",
            NextPending => "jump to the next pending sample",
            Accept => "accept (the selection, if any, after a confirmation)",
            Reject => "reject (the selection, if any, after a confirmation)",
            Edit => "edit the text in place, with a diff afterwards",
            EditExternal => "edit the text in $EDITOR",
            Undo => "undo the last decision (unlimited, survives restarts)",
            Note => "write a note on the sample",
            Flag => "flag / unflag the sample",
            ToggleSelect => "select / unselect for a bulk action",
            SelectAll => "select every sample in view",
            Filter => "fuzzy filter",
            Clear => "clear the selection, then the filter",
            CycleSort => "sort: newest → score → disagreement → needs a human",
            NextTab => "next status tab",
            PrevTab => "previous status tab",
            TabPending => "pending tab",
            TabAccepted => "accepted tab",
            TabRejected => "rejected tab",
            TabEdited => "edited tab",
            TabAll => "all samples",
            ToggleDiff => "show the diff of an edited sample",
            Reload => "reload the queue (picks up samples `distillery generate` added)",
            ScrollDown => "scroll the detail down",
            ScrollUp => "scroll the detail up",
            Generate => "generate candidates in the background",
            CancelJob => "cancel the generation job at once (kept ones stay)",
            Help => "this help",
            Quit => "quit",
            Confirm => "confirm",
            Cancel => "cancel",
            Save => "save",
            NextField => "next field",
            Close => "close",
            Increase => "next value",
            Decrease => "previous value",
        }
    }

    /// A short label for the footer.
    pub fn label(self) -> &'static str {
        use Action::*;
        match self {
            Accept => "accept",
            Reject => "reject",
            Edit => "edit",
            Undo => "undo",
            Note => "note",
            Flag => "flag",
            Filter => "filter",
            ToggleSelect => "select",
            CycleSort => "sort",
            ToggleDiff => "diff",
            NextPending => "next pending",
            Generate => "generate",
            Help => "help",
            Quit => "quit",
            Confirm => "apply",
            Cancel => "cancel",
            Save => "save",
            NextField => "field",
            Close => "close",
            Clear => "clear",
            _ => "",
        }
    }
}
