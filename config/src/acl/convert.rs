//! Converters applied after a sample fetch (`hdr(host),lower,field(1,:)`).

use std::fmt;

use super::fetch::{ParseError, SampleType};
use crate::diag::nearest;

/// A converter applied to a fetched sample, written after a comma.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Converter {
    Lower,
    Upper,
    /// `length`: the string's length in bytes.
    Length,
    /// `hex`: bytes as upper-case hexadecimal.
    Hex,
    Base64,
    /// `field(INDEX,DELIMITERS[,COUNT])`: the INDEXth field (1-based, negative from the end).
    Field {
        index: i32,
        delimiters: String,
        count: Option<i32>,
    },
    /// `word(INDEX,DELIMITERS[,COUNT])`: like `field` but empty words are skipped.
    Word {
        index: i32,
        delimiters: String,
        count: Option<i32>,
    },
}

const CONVERTER_NAMES: &[&str] = &["lower", "upper", "length", "hex", "base64", "field", "word"];

impl Converter {
    pub fn from_parts(name: &str, args: &[String]) -> Result<Converter, ParseError> {
        let simple = |c: Converter| {
            if args.is_empty() {
                Ok(c)
            } else {
                Err(ParseError::new(format!(
                    "converter '{name}' takes no argument"
                )))
            }
        };
        match name {
            "lower" => simple(Converter::Lower),
            "upper" => simple(Converter::Upper),
            "length" => simple(Converter::Length),
            "hex" => simple(Converter::Hex),
            "base64" => simple(Converter::Base64),
            "field" | "word" => {
                let usage = || {
                    ParseError::new(format!(
                        "converter '{name}' expects INDEX,DELIMITERS[,COUNT]"
                    ))
                    .with_help(format!("for example {name}(2,/) takes the second part"))
                };
                let (index, delimiters, count) = match args {
                    [i, d] => (i, d, None),
                    [i, d, c] => (i, d, Some(c)),
                    _ => return Err(usage()),
                };
                let index: i32 = index.parse().map_err(|_| usage())?;
                if index == 0 || delimiters.is_empty() {
                    return Err(usage());
                }
                let count = match count {
                    Some(c) => Some(c.parse::<i32>().map_err(|_| usage())?),
                    None => None,
                };
                let delimiters = delimiters.clone();
                Ok(if name == "field" {
                    Converter::Field {
                        index,
                        delimiters,
                        count,
                    }
                } else {
                    Converter::Word {
                        index,
                        delimiters,
                        count,
                    }
                })
            }
            _ => {
                let e = ParseError::new(format!("unknown converter '{name}'"));
                Err(match nearest(name, CONVERTER_NAMES.iter().copied()) {
                    Some(n) => e.with_help(format!("did you mean '{n}'?")),
                    None => e.with_help(format!(
                        "supported converters: {}",
                        CONVERTER_NAMES.join(", ")
                    )),
                })
            }
        }
    }

    /// The type this converter yields.
    pub fn output_type(&self) -> SampleType {
        match self {
            Converter::Length => SampleType::Int,
            _ => SampleType::Str,
        }
    }
}

impl fmt::Display for Converter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Converter::Lower => f.write_str("lower"),
            Converter::Upper => f.write_str("upper"),
            Converter::Length => f.write_str("length"),
            Converter::Hex => f.write_str("hex"),
            Converter::Base64 => f.write_str("base64"),
            Converter::Field {
                index,
                delimiters,
                count,
            }
            | Converter::Word {
                index,
                delimiters,
                count,
            } => {
                let name = if matches!(self, Converter::Field { .. }) {
                    "field"
                } else {
                    "word"
                };
                write!(f, "{name}({index},{delimiters}")?;
                if let Some(c) = count {
                    write!(f, ",{c}")?;
                }
                f.write_str(")")
            }
        }
    }
}
