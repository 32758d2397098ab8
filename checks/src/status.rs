//! Check result codes in HAProxy's vocabulary (`L4OK`, `L4CON`, `L7STS`, …) and the reason
//! each one gives in log lines.

use std::fmt;
use std::time::Duration;

/// What one probe found, named as HAProxy's stats page and logs name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CheckStatus {
    /// No check has completed yet.
    Ini,
    /// The check is not run (maintenance, or checks disabled).
    Disabled,
    /// `observe`: consecutive errors on traffic counted as a failed check.
    Hana,
    L4Ok,
    L4Timeout,
    L4Con,
    L6Ok,
    L6Timeout,
    L6Rsp,
    L7Ok,
    /// Passed under a condition (`http-check disable-on-404` got a 404).
    L7OkCond,
    L7Timeout,
    L7Rsp,
    L7Sts,
    SockErr,
}

impl CheckStatus {
    /// The short code: `L4OK`, `L7STS`, …
    pub fn code(self) -> &'static str {
        match self {
            Self::Ini => "INI",
            Self::Disabled => "",
            Self::Hana => "HANA",
            Self::L4Ok => "L4OK",
            Self::L4Timeout => "L4TOUT",
            Self::L4Con => "L4CON",
            Self::L6Ok => "L6OK",
            Self::L6Timeout => "L6TOUT",
            Self::L6Rsp => "L6RSP",
            Self::L7Ok => "L7OK",
            Self::L7OkCond => "L7OKC",
            Self::L7Timeout => "L7TOUT",
            Self::L7Rsp => "L7RSP",
            Self::L7Sts => "L7STS",
            Self::SockErr => "SOCKERR",
        }
    }

    /// The reason written in log lines ("Layer4 connection problem").
    pub fn reason(self) -> &'static str {
        match self {
            Self::Ini => "Initializing",
            Self::Disabled => "Disabled",
            Self::Hana => "Health analyze",
            Self::L4Ok => "Layer4 check passed",
            Self::L4Timeout => "Layer4 timeout",
            Self::L4Con => "Layer4 connection problem",
            Self::L6Ok => "Layer6 check passed",
            Self::L6Timeout => "Layer6 timeout",
            Self::L6Rsp => "Layer6 invalid response",
            Self::L7Ok => "Layer7 check passed",
            Self::L7OkCond => "Layer7 check conditionally passed",
            Self::L7Timeout => "Layer7 timeout",
            Self::L7Rsp => "Layer7 invalid response",
            Self::L7Sts => "Layer7 wrong status",
            Self::SockErr => "Socket error",
        }
    }

    /// Whether the probe counts as a success for the rise/fall counters.
    pub fn passed(self) -> bool {
        matches!(self, Self::L4Ok | Self::L6Ok | Self::L7Ok | Self::L7OkCond)
    }
}

impl fmt::Display for CheckStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// The outcome of one probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckResult {
    pub status: CheckStatus,
    /// The HTTP status of a layer-7 check.
    pub code: Option<u16>,
    /// The detail logged after `info:` (an OS error, a reason phrase, what did not match).
    pub info: Option<String>,
    pub duration: Duration,
}

impl CheckResult {
    pub fn new(status: CheckStatus) -> Self {
        Self {
            status,
            code: None,
            info: None,
            duration: Duration::ZERO,
        }
    }

    pub fn with_info(mut self, info: impl Into<String>) -> Self {
        self.info = Some(info.into());
        self
    }

    pub fn with_code(mut self, code: u16) -> Self {
        self.code = Some(code);
        self
    }
}
