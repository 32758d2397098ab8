//! ACL patterns compiled for matching: exact strings in hash sets (case-folding hashes for
//! `-i`, so no lowered copy is made), regexes compiled once, integer ranges, IP networks.

use std::borrow::Borrow;
use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::net::IpAddr;

use regex::bytes::{Regex, RegexBuilder};
use ringlb_config::acl::pattern::decode_hex;
use ringlb_config::acl::{IntPattern, Matcher};
use ringlb_config::model::IpNet;

use crate::stream::sample::Sample;

/// Bytes that hash and compare ignoring ASCII case.
#[repr(transparent)]
#[derive(Debug)]
pub struct NoCase([u8]);

impl NoCase {
    pub fn new(b: &[u8]) -> &NoCase {
        // SAFETY: `NoCase` is a transparent wrapper around `[u8]`, so the layouts match.
        unsafe { &*(b as *const [u8] as *const NoCase) }
    }
}

impl Hash for NoCase {
    fn hash<H: Hasher>(&self, h: &mut H) {
        // Lowered a chunk at a time on the stack: one hasher call per 32 bytes, no copy kept.
        let mut chunk = [0u8; 32];
        for part in self.0.chunks(chunk.len()) {
            for (c, b) in chunk.iter_mut().zip(part) {
                *c = b.to_ascii_lowercase();
            }
            h.write(&chunk[..part.len()]);
        }
        h.write_usize(self.0.len());
    }
}

impl PartialEq for NoCase {
    fn eq(&self, other: &Self) -> bool {
        self.0.eq_ignore_ascii_case(&other.0)
    }
}

impl Eq for NoCase {}

/// An owned key of a case-insensitive set; hashes and compares like [`NoCase`].
#[derive(Debug)]
pub struct NoCaseKey(Box<[u8]>);

impl Hash for NoCaseKey {
    fn hash<H: Hasher>(&self, h: &mut H) {
        NoCase::new(&self.0).hash(h)
    }
}

impl PartialEq for NoCaseKey {
    fn eq(&self, o: &Self) -> bool {
        NoCase::new(&self.0) == NoCase::new(&o.0)
    }
}

impl Eq for NoCaseKey {}

impl Borrow<NoCase> for NoCaseKey {
    fn borrow(&self) -> &NoCase {
        NoCase::new(&self.0)
    }
}

/// A set of exact strings.
#[derive(Debug)]
pub enum StrSet {
    Exact(HashSet<Box<[u8]>>),
    NoCase(HashSet<NoCaseKey>),
}

impl StrSet {
    fn new(patterns: &[String], ignore_case: bool) -> Self {
        let bytes = patterns.iter().map(|p| p.as_bytes().into());
        if ignore_case {
            StrSet::NoCase(bytes.map(NoCaseKey).collect())
        } else {
            StrSet::Exact(bytes.collect())
        }
    }

    fn contains(&self, v: &[u8]) -> bool {
        match self {
            StrSet::Exact(s) => s.contains(v),
            StrSet::NoCase(s) => s.contains(NoCase::new(v)),
        }
    }

    pub fn len(&self) -> usize {
        match self {
            StrSet::Exact(s) => s.len(),
            StrSet::NoCase(s) => s.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A match method with its patterns in the form matching reads fastest.
#[derive(Debug)]
pub enum CompiledMatcher {
    Found,
    Bool,
    Int(Vec<IntPattern>),
    Len(Vec<IntPattern>),
    Ip(Vec<IpNet>),
    Str(StrSet),
    /// Prefix, suffix and substring lists are short in practice (a handful of paths or
    /// extensions); a linear scan over them beats any index.
    Beg(Vec<Box<[u8]>>),
    End(Vec<Box<[u8]>>),
    Sub(Vec<Box<[u8]>>),
    Dir(Vec<Box<[u8]>>),
    Dom(Vec<Box<[u8]>>),
    Reg(Vec<Regex>),
    /// `bin`: the decoded bytes of the hexadecimal patterns, compared exactly (`-i` does
    /// not apply to bytes).
    Bin(StrSet),
}

impl CompiledMatcher {
    /// Compiles `m`; regexes were validated by the parser, so compiling cannot fail except
    /// for size limits, reported as a message.
    pub fn compile(m: &Matcher, ignore_case: bool) -> Result<Self, String> {
        let list = |v: &[String]| v.iter().map(|p| p.as_bytes().into()).collect();
        Ok(match m {
            Matcher::Found => CompiledMatcher::Found,
            Matcher::Bool => CompiledMatcher::Bool,
            Matcher::Int(v) => CompiledMatcher::Int(v.clone()),
            Matcher::Len(v) => CompiledMatcher::Len(v.clone()),
            Matcher::Ip(v) => CompiledMatcher::Ip(v.clone()),
            Matcher::Str(v) => CompiledMatcher::Str(StrSet::new(v, ignore_case)),
            Matcher::Beg(v) => CompiledMatcher::Beg(list(v)),
            Matcher::End(v) => CompiledMatcher::End(list(v)),
            Matcher::Sub(v) => CompiledMatcher::Sub(list(v)),
            Matcher::Dir(v) => CompiledMatcher::Dir(list(v)),
            Matcher::Dom(v) => CompiledMatcher::Dom(list(v)),
            Matcher::Bin(v) => CompiledMatcher::Bin(StrSet::Exact(
                v.iter()
                    .map(|h| decode_hex(h).map(Vec::into_boxed_slice))
                    .collect::<Result<_, _>>()
                    .map_err(|e| e.message)?,
            )),
            Matcher::Reg(v) => CompiledMatcher::Reg(
                v.iter()
                    .map(|r| {
                        RegexBuilder::new(r.as_str())
                            .case_insensitive(ignore_case)
                            .build()
                            .map_err(|e| format!("regex '{}': {e}", r.as_str()))
                    })
                    .collect::<Result<_, _>>()?,
            ),
        })
    }

    /// Whether `s` matches any pattern.
    pub fn matches(&self, s: &Sample<'_>, ci: bool) -> bool {
        let bytes = || match s {
            Sample::Str(b) => Some(&b[..]),
            _ => None,
        };
        let eq = |a: &[u8], b: &[u8]| {
            if ci {
                a.eq_ignore_ascii_case(b)
            } else {
                a == b
            }
        };
        match self {
            CompiledMatcher::Found => true,
            CompiledMatcher::Bool => match s {
                Sample::Bool(b) => *b,
                Sample::Int(n) => *n != 0,
                Sample::Ip(_) => true,
                Sample::Str(b) => !b.is_empty(),
            },
            CompiledMatcher::Int(p) => s.as_int().is_some_and(|n| p.iter().any(|p| p.matches(n))),
            CompiledMatcher::Len(p) => {
                bytes().is_some_and(|b| p.iter().any(|p| p.matches(b.len() as i64)))
            }
            CompiledMatcher::Ip(nets) => {
                let ip = match s {
                    Sample::Ip(ip) => Some(*ip),
                    Sample::Str(b) => std::str::from_utf8(b)
                        .ok()
                        .and_then(|t| t.trim().parse::<IpAddr>().ok()),
                    _ => None,
                };
                ip.is_some_and(|ip| nets.iter().any(|n| n.contains(ip)))
            }
            CompiledMatcher::Str(set) => bytes().is_some_and(|b| set.contains(b)),
            CompiledMatcher::Bin(set) => bytes().is_some_and(|b| set.contains(b)),
            CompiledMatcher::Beg(p) => bytes()
                .is_some_and(|b| p.iter().any(|p| b.len() >= p.len() && eq(&b[..p.len()], p))),
            CompiledMatcher::End(p) => bytes().is_some_and(|b| {
                p.iter()
                    .any(|p| b.len() >= p.len() && eq(&b[b.len() - p.len()..], p))
            }),
            CompiledMatcher::Sub(p) => {
                bytes().is_some_and(|b| p.iter().any(|p| find(b, p, ci, &[]).is_some()))
            }
            CompiledMatcher::Dir(p) => {
                bytes().is_some_and(|b| p.iter().any(|p| find(b, p, ci, b"/?").is_some()))
            }
            CompiledMatcher::Dom(p) => {
                bytes().is_some_and(|b| p.iter().any(|p| find(b, p, ci, b"./?:").is_some()))
            }
            CompiledMatcher::Reg(r) => match s {
                Sample::Str(b) => r.iter().any(|r| r.is_match(b)),
                // Numbers and addresses are matched as text, written on the stack.
                other => {
                    let mut tmp = [0u8; 48];
                    let n = write_small(other, &mut tmp);
                    r.iter().any(|r| r.is_match(&tmp[..n]))
                }
            },
        }
    }
}

fn write_small(s: &Sample<'_>, out: &mut [u8; 48]) -> usize {
    use std::io::Write;
    let mut c = std::io::Cursor::new(&mut out[..]);
    let _ = match s {
        Sample::Bool(b) => write!(c, "{}", u8::from(*b)),
        Sample::Int(n) => write!(c, "{n}"),
        Sample::Ip(ip) => write!(c, "{ip}"),
        Sample::Str(_) => Ok(()),
    };
    c.position() as usize
}

/// Position of `pat` in `hay`; with `delims`, only where it stands between delimiters (or
/// the ends), as `dir` and `dom` require.
fn find(hay: &[u8], pat: &[u8], ci: bool, delims: &[u8]) -> Option<usize> {
    if pat.is_empty() || pat.len() > hay.len() {
        return None;
    }
    let bounded = |i: usize| {
        delims.is_empty()
            || ((i == 0 || delims.contains(&hay[i - 1]))
                && (i + pat.len() == hay.len() || delims.contains(&hay[i + pat.len()])))
    };
    if !ci {
        return memchr::memmem::find_iter(hay, pat).find(|&i| bounded(i));
    }
    (0..=hay.len() - pat.len())
        .find(|&i| hay[i..i + pat.len()].eq_ignore_ascii_case(pat) && bounded(i))
}
