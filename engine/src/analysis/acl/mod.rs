//! ACLs compiled once per configuration load, and conditions evaluated against a stream
//! without allocating: fetches read the parsed head in place, patterns are pre-built.

pub mod auth;
pub mod fetch;
pub mod matcher;
pub mod payload;

use std::collections::HashMap;
use std::sync::Arc;

use ringlb_config::acl::{
    AclDef, AclExpr, AclRef, Condition, Converter, Fetch, Matcher, Polarity, Predefined,
};
use ringlb_config::model::Userlist;

use auth::AuthList;

pub use fetch::fetch_each;

use crate::stream::sample::Sample;
use crate::stream::txn::Txn;
pub use matcher::CompiledMatcher;

/// One ACL expression ready to evaluate.
#[derive(Debug)]
pub struct CompiledExpr {
    fetch: Fetch,
    converters: Vec<Converter>,
    ignore_case: bool,
    matcher: CompiledMatcher,
    /// The userlist of `http_auth`/`http_auth_group`.
    auth: Option<Arc<AuthList>>,
}

impl CompiledExpr {
    pub fn compile(e: &AclExpr) -> Result<Self, String> {
        let (converters, ignore_case, matcher) = fold_case(e);
        Ok(Self {
            fetch: e.sample.fetch.clone(),
            converters,
            ignore_case,
            matcher: CompiledMatcher::compile(&matcher, ignore_case)?,
            auth: None,
        })
    }

    /// Compiles `e`, giving an auth fetch its userlist from `lists`.
    fn compile_in(e: &AclExpr, lists: &HashMap<String, Arc<AuthList>>) -> Result<Self, String> {
        let mut c = Self::compile(e)?;
        if let Fetch::HttpAuth { userlist } | Fetch::HttpAuthGroup { userlist } = &e.sample.fetch {
            let list = lists
                .get(userlist)
                .ok_or_else(|| format!("userlist '{userlist}' is not defined"))?;
            c.auth = Some(list.clone());
        }
        Ok(c)
    }

    /// [`CompiledExpr::matches`], or `Miss` when it does not match yet and more buffered
    /// bytes could change that.
    fn test(&self, txn: &Txn<'_>) -> Test {
        let short = || txn.payload.is_some_and(|p| p.take_short());
        short();
        if self.matches(txn) {
            short();
            Test::Pass
        } else if short() {
            Test::Miss
        } else {
            Test::Fail
        }
    }

    /// Whether any value of the sample matches any pattern.
    pub fn matches(&self, txn: &Txn<'_>) -> bool {
        let mut test = |s: Sample<'_>| {
            let s = if self.converters.is_empty() {
                Some(s)
            } else {
                fetch::convert(s, &self.converters)
            };
            s.is_some_and(|s| self.matcher.matches(&s, self.ignore_case))
        };
        match &self.auth {
            // `http_auth` is true or false; `http_auth_group` yields each group of the user.
            Some(list) => {
                let groups = list.authenticate(txn);
                match self.fetch {
                    Fetch::HttpAuthGroup { .. } => groups.is_some_and(|g| {
                        g.iter()
                            .any(|g| test(Sample::Str(std::borrow::Cow::Borrowed(g))))
                    }),
                    _ => test(Sample::Bool(groups.is_some())),
                }
            }
            None => fetch_each(&self.fetch, txn, &mut test),
        }
    }
}

/// `hdr(host),lower -m str example.com` is `hdr(host) -i -m str example.com` minus the
/// patterns with capitals, which a lowered value never equals. Rewriting it so keeps string
/// matches free of copies; `field`/`word` commute with case changes. Regexes keep the
/// converters (a case-insensitive regex would also match what `lower` cannot produce).
fn fold_case(e: &AclExpr) -> (Vec<Converter>, bool, Matcher) {
    let convs = &e.sample.converters;
    let last_case = convs
        .iter()
        .rev()
        .find(|c| matches!(c, Converter::Lower | Converter::Upper));
    let foldable = convs.iter().all(|c| {
        matches!(
            c,
            Converter::Lower | Converter::Upper | Converter::Field { .. } | Converter::Word { .. }
        )
    });
    let keep = |p: &String, lower: bool| {
        !p.bytes().any(|b| {
            if lower {
                b.is_ascii_uppercase()
            } else {
                b.is_ascii_lowercase()
            }
        })
    };
    let (Some(case), true) = (last_case, foldable) else {
        return (convs.clone(), e.ignore_case, e.matcher.clone());
    };
    let lower = *case == Converter::Lower;
    let filter = |v: &Vec<String>| -> Vec<String> {
        v.iter()
            .filter(|p| e.ignore_case || keep(p, lower))
            .cloned()
            .collect()
    };
    let matcher = match &e.matcher {
        Matcher::Str(v) => Matcher::Str(filter(v)),
        Matcher::Beg(v) => Matcher::Beg(filter(v)),
        Matcher::End(v) => Matcher::End(filter(v)),
        Matcher::Sub(v) => Matcher::Sub(filter(v)),
        Matcher::Dir(v) => Matcher::Dir(filter(v)),
        Matcher::Dom(v) => Matcher::Dom(filter(v)),
        Matcher::Len(_) | Matcher::Found => e.matcher.clone(),
        _ => return (convs.clone(), e.ignore_case, e.matcher.clone()),
    };
    let rest = convs
        .iter()
        .filter(|c| !matches!(c, Converter::Lower | Converter::Upper))
        .cloned()
        .collect();
    (rest, true, matcher)
}

/// An ACL or condition evaluated while a `mode tcp` stream's bytes are still arriving:
/// HAProxy's three-valued `acl_test_res`, where `Miss` means "not yet, wait for more".
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Test {
    Fail,
    Miss,
    Pass,
}

impl Test {
    fn from_bool(b: bool) -> Self {
        if b {
            Test::Pass
        } else {
            Test::Fail
        }
    }

    /// Negation keeps an undecided result undecided.
    fn not(self) -> Self {
        match self {
            Test::Fail => Test::Pass,
            Test::Pass => Test::Fail,
            Test::Miss => Test::Miss,
        }
    }

    /// OR: any `Pass` wins, then any `Miss` (the variants are ordered so; AND is `min`).
    fn or(self, other: Test) -> Self {
        self.max(other)
    }
}

/// Index of an ACL (every `acl` line of one name, ORed) in its proxy's table.
pub type AclId = usize;

/// A proxy's ACLs.
#[derive(Debug, Default)]
pub struct AclTable {
    groups: Vec<Vec<CompiledExpr>>,
}

impl AclTable {
    pub fn matches(&self, id: AclId, txn: &Txn<'_>) -> bool {
        self.groups[id].iter().any(|e| e.matches(txn))
    }

    /// [`AclTable::matches`] in three values: the lines are ORed, the first `Pass` decides.
    pub fn test(&self, id: AclId, txn: &Txn<'_>) -> Test {
        let mut res = Test::Fail;
        for e in &self.groups[id] {
            res = res.or(e.test(txn));
            if res == Test::Pass {
                break;
            }
        }
        res
    }

    pub fn len(&self) -> usize {
        self.groups.len()
    }

    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }
}

/// A condition with its ACL names resolved to table indices.
#[derive(Debug, Clone)]
pub struct Cond {
    unless: bool,
    /// OR of AND-groups of (negate, ACL).
    terms: Vec<Vec<(bool, AclId)>>,
}

impl Cond {
    /// Evaluates the condition; ACLs are evaluated lazily, left to right, as HAProxy does.
    pub fn holds(&self, acls: &AclTable, txn: &Txn<'_>) -> bool {
        let any = self
            .terms
            .iter()
            .any(|g| g.iter().all(|&(neg, id)| acls.matches(id, txn) != neg));
        any != self.unless
    }
}

impl Cond {
    /// [`Cond::holds`] while bytes are still arriving: `Miss` when the answer may change with
    /// more bytes. Evaluated as HAProxy's `acl_exec_cond`: an AND group stops at its first
    /// term that does not pass, the groups are ORed, and `unless` inverts a decided result.
    pub fn test(&self, acls: &AclTable, txn: &Txn<'_>) -> Test {
        let mut res = Test::Fail;
        for group in &self.terms {
            let mut all = Test::Pass;
            for &(neg, id) in group {
                let t = acls.test(id, txn);
                all = all.min(if neg { t.not() } else { t });
                if all != Test::Pass {
                    break;
                }
            }
            res = res.or(all);
            if res == Test::Pass {
                break;
            }
        }
        match res {
            Test::Miss => Test::Miss,
            decided => Test::from_bool((decided == Test::Pass) != self.unless),
        }
    }
}

/// Whether an optional condition lets a rule apply.
pub fn applies(cond: &Option<Cond>, acls: &AclTable, txn: &Txn<'_>) -> bool {
    match cond {
        Some(c) => c.holds(acls, txn),
        None => true,
    }
}

/// Builds a proxy's [`AclTable`] while its rules' conditions are compiled.
pub struct AclCompiler<'p> {
    defs: &'p [AclDef],
    userlists: HashMap<String, Arc<AuthList>>,
    table: AclTable,
    named: HashMap<String, AclId>,
    predefined: HashMap<Predefined, AclId>,
}

impl<'p> AclCompiler<'p> {
    pub fn new(defs: &'p [AclDef]) -> Self {
        Self {
            defs,
            userlists: HashMap::new(),
            table: AclTable::default(),
            named: HashMap::new(),
            predefined: HashMap::new(),
        }
    }

    /// Makes `lists` available to `http_auth(NAME)` and `http_auth_group(NAME)`.
    pub fn with_userlists(mut self, lists: &[Userlist]) -> Self {
        self.userlists = lists
            .iter()
            .map(|l| (l.name.clone(), AuthList::compile(l)))
            .collect();
        self
    }

    fn push(&mut self, exprs: Vec<CompiledExpr>) -> AclId {
        self.table.groups.push(exprs);
        self.table.groups.len() - 1
    }

    fn resolve(&mut self, r: &AclRef) -> Result<AclId, String> {
        Ok(match r {
            AclRef::Named(name) => {
                if let Some(&id) = self.named.get(name) {
                    return Ok(id);
                }
                let exprs = self
                    .defs
                    .iter()
                    .filter(|d| &d.name == name)
                    .map(|d| {
                        CompiledExpr::compile_in(&d.expr, &self.userlists)
                            .map_err(|e| format!("acl '{name}' ({}): {e}", d.location))
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                let id = self.push(exprs);
                self.named.insert(name.clone(), id);
                id
            }
            AclRef::Anonymous(e) => {
                let c = CompiledExpr::compile_in(e, &self.userlists)?;
                self.push(vec![c])
            }
            AclRef::Predefined(p) => {
                if let Some(&id) = self.predefined.get(p) {
                    return Ok(id);
                }
                let c = CompiledExpr::compile(&p.expr())?;
                let id = self.push(vec![c]);
                self.predefined.insert(*p, id);
                id
            }
        })
    }

    pub fn condition(&mut self, c: &Condition) -> Result<Cond, String> {
        let terms = c
            .terms
            .iter()
            .map(|g| {
                g.iter()
                    .map(|t| Ok((t.negate, self.resolve(&t.acl)?)))
                    .collect::<Result<Vec<_>, String>>()
            })
            .collect::<Result<_, _>>()?;
        Ok(Cond {
            unless: c.polarity == Polarity::Unless,
            terms,
        })
    }

    pub fn optional(&mut self, c: &Option<Condition>) -> Result<Option<Cond>, String> {
        c.as_ref().map(|c| self.condition(c)).transpose()
    }

    pub fn finish(self) -> AclTable {
        self.table
    }
}

#[cfg(test)]
mod tests;
