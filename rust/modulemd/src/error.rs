//! Errors: which document, which field, what is wrong with it.

/// Why `modules.yaml` could not be written or read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A field of a document fails validation. `document` names the
    /// document (`module stream apache:2.4:20261125083000:c0ffee43:x86_64`,
    /// `modulemd-defaults of apache`), `field` is the YAML key path
    /// (`data.stream`, `data.xmd.strata.inputs[2]`).
    #[error("{document}: `{field}` {problem}")]
    Invalid {
        document: String,
        field: String,
        problem: Problem,
    },
    /// The same stream (`name:stream:version:context:arch`), or defaults of
    /// the same module, given twice.
    #[error("{document} is given more than once")]
    Duplicate { document: String },
    /// A document of `modules.yaml` (counted from 1) is not YAML or not of
    /// the expected shape.
    #[error("modules.yaml document {index}: {message}")]
    Parse { index: usize, message: String },
}

/// What is wrong with one field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    #[error("must not be empty")]
    Empty,
    #[error("must be set (0 means unset in modulemd)")]
    Unset,
    #[error("is {value:?}, which has {bad:?}; only {allowed} are allowed")]
    BadCharacters {
        value: String,
        bad: char,
        allowed: &'static str,
    },
    #[error(
        "is {value:?}, which starts with '-' (a leading '-' excludes a stream in dependencies)"
    )]
    LeadingDash { value: String },
    #[error("is {value:?}, longer than {max} characters")]
    TooLong { value: String, max: usize },
    #[error(
        "is {value:?}, not a NEVRA with an explicit epoch (name-epoch:version-release.arch, \
         e.g. httpd-0:2.4.58-1.fc40.x86_64); without the epoch dnf drops the whole stream"
    )]
    BadNevra { value: String },
    #[error(
        "mixes required and excluded ('-') streams: {streams:?}; libmodulemd refuses the document"
    )]
    MixedStreams { streams: Vec<String> },
    #[error("is null, which libmodulemd's xmd cannot hold")]
    XmdNull,
    #[error(
        "is a list of {kinds:?}: libmodulemd holds xmd lists whose items are all of one \
         kind (strings and numbers, booleans, maps, or lists of one kind)"
    )]
    XmdMixedList { kinds: Vec<&'static str> },
    #[error("is {value:?}, not a date YYYY-MM-DD")]
    BadDate { value: String },
}
