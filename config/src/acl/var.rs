//! Variable names as `var()` and `set-var()` write them: a scope and a name.

use std::fmt;

/// A variable written `set-var(SCOPE.NAME)`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct VarName {
    pub scope: VarScope,
    pub name: String,
}

/// How long a variable lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VarScope {
    /// The whole process.
    Proc,
    /// The client connection.
    Sess,
    /// One request and its response.
    Txn,
    /// The request only.
    Req,
    /// The response only.
    Res,
}

impl VarScope {
    pub fn name(self) -> &'static str {
        match self {
            VarScope::Proc => "proc",
            VarScope::Sess => "sess",
            VarScope::Txn => "txn",
            VarScope::Req => "req",
            VarScope::Res => "res",
        }
    }
}

impl VarName {
    /// Parses `SCOPE.NAME`.
    pub fn parse(s: &str) -> Result<VarName, String> {
        let (scope, name) = s
            .split_once('.')
            .ok_or_else(|| format!("variable '{s}' has no scope"))?;
        let scope = match scope {
            "proc" => VarScope::Proc,
            "sess" => VarScope::Sess,
            "txn" => VarScope::Txn,
            "req" => VarScope::Req,
            "res" => VarScope::Res,
            _ => return Err(format!("unknown variable scope '{scope}' in '{s}'")),
        };
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
        {
            return Err(format!("invalid variable name '{s}'"));
        }
        Ok(VarName {
            scope,
            name: name.to_string(),
        })
    }
}

impl fmt::Display for VarName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.scope.name(), self.name)
    }
}
