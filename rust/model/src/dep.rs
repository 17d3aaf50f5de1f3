//! Dependencies: plain (`foo`), versioned (`foo >= 1.0`) and rich
//! (`(foo or bar > 2)`), with the text forms rpm and libsolv print.

use crate::evr::RelFlags;
use std::fmt;

/// The operators of rpm's boolean (rich) dependencies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RichOp {
    And,
    Or,
    If,
    Unless,
    Else,
    With,
    Without,
}

impl RichOp {
    fn from_word(w: &str) -> Option<RichOp> {
        Some(match w {
            "and" => RichOp::And,
            "or" => RichOp::Or,
            "if" => RichOp::If,
            "unless" => RichOp::Unless,
            "else" => RichOp::Else,
            "with" => RichOp::With,
            "without" => RichOp::Without,
            _ => return None,
        })
    }

    pub fn word(self) -> &'static str {
        match self {
            RichOp::And => "and",
            RichOp::Or => "or",
            RichOp::If => "if",
            RichOp::Unless => "unless",
            RichOp::Else => "else",
            RichOp::With => "with",
            RichOp::Without => "without",
        }
    }
}

/// A parsed rich dependency. Chains (`a or b or c`) nest to the right, and
/// `a if b else c` is `If(a, Else(b, c))`, the shape libsolv gives them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RichDep {
    Simple {
        name: String,
        flags: RelFlags,
        evr: String,
    },
    Op {
        op: RichOp,
        left: Box<RichDep>,
        right: Box<RichDep>,
    },
}

/// Why a rich dependency could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid rich dependency `{text}` at offset {offset}: {reason}")]
pub struct RichDepError {
    pub text: String,
    pub offset: usize,
    pub reason: &'static str,
}

struct Parser<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Parser<'a> {
    fn err(&self, reason: &'static str) -> RichDepError {
        RichDepError {
            text: self.text.to_string(),
            offset: self.pos,
            reason,
        }
    }

    fn skip_ws(&mut self) {
        while self.text[self.pos..].starts_with(|c: char| c.is_ascii_whitespace()) {
            self.pos += 1;
        }
    }

    /// A token: `(`, `)`, or a run of characters up to white space or an
    /// unmatched `)`. A name may hold balanced parentheses (`font(sans)`,
    /// `libc.so.6()(64bit)`), as rpm and libsolv read it.
    fn token(&mut self) -> Option<&'a str> {
        self.skip_ws();
        let rest = &self.text[self.pos..];
        let first = rest.chars().next()?;
        let len = if first == '(' || first == ')' {
            1
        } else {
            let mut depth = 0usize;
            rest.find(|c: char| match c {
                '(' => {
                    depth += 1;
                    false
                }
                ')' if depth > 0 => {
                    depth -= 1;
                    false
                }
                ')' => true,
                c => c.is_ascii_whitespace(),
            })
            .unwrap_or(rest.len())
        };
        self.pos += len;
        Some(&rest[..len])
    }

    fn peek(&mut self) -> Option<&'a str> {
        let save = self.pos;
        let t = self.token();
        self.pos = save;
        t
    }

    /// Parses `( expr )`; the opening paren is the next token.
    fn paren(&mut self) -> Result<RichDep, RichDepError> {
        if self.token() != Some("(") {
            return Err(self.err("expected `(`"));
        }
        let first = self.operand()?;
        let dep = match self.peek() {
            Some(")") => first,
            Some(w) => {
                let op = RichOp::from_word(w).ok_or_else(|| self.err("expected an operator"))?;
                self.token();
                match op {
                    RichOp::And | RichOp::Or | RichOp::With => {
                        let mut items = vec![first, self.operand()?];
                        while self.peek() == Some(op.word()) {
                            self.token();
                            items.push(self.operand()?);
                        }
                        let mut acc = items.pop().expect("two items");
                        while let Some(left) = items.pop() {
                            acc = RichDep::Op {
                                op,
                                left: Box::new(left),
                                right: Box::new(acc),
                            };
                        }
                        acc
                    }
                    RichOp::If | RichOp::Unless => {
                        let cond = self.operand()?;
                        let right = if self.peek() == Some("else") {
                            self.token();
                            let alt = self.operand()?;
                            RichDep::Op {
                                op: RichOp::Else,
                                left: Box::new(cond),
                                right: Box::new(alt),
                            }
                        } else {
                            cond
                        };
                        RichDep::Op {
                            op,
                            left: Box::new(first),
                            right: Box::new(right),
                        }
                    }
                    RichOp::Without => RichDep::Op {
                        op,
                        left: Box::new(first),
                        right: Box::new(self.operand()?),
                    },
                    RichOp::Else => return Err(self.err("`else` without `if` or `unless`")),
                }
            }
            None => return Err(self.err("missing `)`")),
        };
        if self.token() != Some(")") {
            return Err(self.err("expected `)` (mixing different operators needs parentheses)"));
        }
        Ok(dep)
    }

    fn operand(&mut self) -> Result<RichDep, RichDepError> {
        match self.peek() {
            Some("(") => self.paren(),
            Some(")") | None => Err(self.err("expected a dependency")),
            Some(name) => {
                if RichOp::from_word(name).is_some() {
                    return Err(self.err("expected a dependency, found an operator"));
                }
                self.token();
                let save = self.pos;
                if let Some(flags) = self.token().and_then(RelFlags::from_op) {
                    match self.token() {
                        Some(evr) if crate::evr::Evr::parse(evr).version.is_empty() => {
                            return Err(self.err("the version is empty"))
                        }
                        Some(evr) if evr != "(" && evr != ")" => {
                            return Ok(RichDep::Simple {
                                name: name.to_string(),
                                flags,
                                evr: evr.to_string(),
                            })
                        }
                        _ => return Err(self.err("expected a version after the operator")),
                    }
                }
                self.pos = save;
                Ok(RichDep::Simple {
                    name: name.to_string(),
                    flags: RelFlags::NONE,
                    evr: String::new(),
                })
            }
        }
    }
}

impl RichDep {
    /// Parses a rich dependency such as `(foo >= 1.0 or (bar if baz))`.
    pub fn parse(text: &str) -> Result<RichDep, RichDepError> {
        let mut p = Parser { text, pos: 0 };
        let dep = p.paren()?;
        p.skip_ws();
        if p.pos != text.len() {
            return Err(p.err("unexpected text after the closing `)`"));
        }
        Ok(dep)
    }

    fn write(&self, f: &mut fmt::Formatter<'_>, parent: Option<RichOp>) -> fmt::Result {
        match self {
            RichDep::Simple { name, flags, evr } => {
                f.write_str(name)?;
                if flags.is_versioned() {
                    // As libsolv prints it: a zero epoch is dropped.
                    write!(f, " {} {}", flags.op(), crate::evr::Evr::parse(evr))?;
                }
                Ok(())
            }
            RichDep::Op { op, left, right } => {
                // libsolv's rule: parenthesize unless this continues the
                // parent's chain, or is the `else` of an `if`/`unless`.
                // Unlike libsolv, `without` is not treated as a chain: rpm
                // cannot parse `a without b without c`, and what Strata
                // prints must parse again.
                let chained =
                    parent == Some(*op) && matches!(op, RichOp::And | RichOp::Or | RichOp::With);
                let else_of_cond = *op == RichOp::Else
                    && matches!(parent, Some(RichOp::If) | Some(RichOp::Unless));
                let parens = !(chained || else_of_cond);
                if parens {
                    f.write_str("(")?;
                }
                left.write(f, Some(*op))?;
                write!(f, " {} ", op.word())?;
                right.write(f, Some(*op))?;
                if parens {
                    f.write_str(")")?;
                }
                Ok(())
            }
        }
    }
}

impl fmt::Display for RichDep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write(f, None)
    }
}

/// True when a dependency name is a rich (boolean) dependency.
pub fn is_rich(name: &str) -> bool {
    name.starts_with('(')
}

#[cfg(test)]
mod test {
    use super::*;

    fn roundtrip(s: &str) -> String {
        RichDep::parse(s).unwrap().to_string()
    }

    #[test]
    fn parses_and_prints_like_libsolv() {
        assert_eq!(roundtrip("(a or b)"), "(a or b)");
        assert_eq!(roundtrip("(a   or  b < 2)"), "(a or b < 2)");
        assert_eq!(roundtrip("(a or (b < 2))"), "(a or b < 2)");
        assert_eq!(roundtrip("(a or b or c)"), "(a or b or c)");
        assert_eq!(
            roundtrip("(p8 = 0:1 or p9 >= 2:3-4.fc40)"),
            "(p8 = 1 or p9 >= 2:3-4.fc40)"
        );
        assert_eq!(
            roundtrip("(a or (b and c >= 1:2.0-1))"),
            "(a or (b and c >= 1:2.0-1))"
        );
        assert_eq!(roundtrip("(a if b else c)"), "(a if b else c)");
        assert_eq!(roundtrip("(a unless (b with c))"), "(a unless (b with c))");
        assert_eq!(roundtrip("((a or b) without c)"), "((a or b) without c)");
        assert_eq!(
            roundtrip("((a without b) without c)"),
            "((a without b) without c)"
        );
    }

    #[test]
    fn names_may_hold_parentheses() {
        // rpm and libsolv read a name up to white space or an unmatched
        // `)`: `font(sans)` and `libc.so.6()(64bit)` are names, common in
        // rich dependencies (`(python3dist(x) if python3)`).
        assert_eq!(
            roundtrip("(font(sans) if libc.so.6()(64bit) >= 2)"),
            "(font(sans) if libc.so.6()(64bit) >= 2)"
        );
        assert_eq!(
            roundtrip("((pkgconfig(glib-2.0) or gone(x)) and b)"),
            "((pkgconfig(glib-2.0) or gone(x)) and b)"
        );
        let d = RichDep::parse("(python3dist(x) >= 1.0)").unwrap();
        assert_eq!(
            d,
            RichDep::Simple {
                name: "python3dist(x)".into(),
                flags: RelFlags::GE,
                evr: "1.0".into()
            }
        );
        assert!(RichDep::parse("(a or b))").is_err());
    }

    #[test]
    fn structure() {
        let d = RichDep::parse("(a if b else c)").unwrap();
        let RichDep::Op {
            op: RichOp::If,
            right,
            ..
        } = d
        else {
            panic!()
        };
        assert!(matches!(
            *right,
            RichDep::Op {
                op: RichOp::Else,
                ..
            }
        ));
        let d = RichDep::parse("(x >= 2)").unwrap();
        assert_eq!(
            d,
            RichDep::Simple {
                name: "x".into(),
                flags: RelFlags::GE,
                evr: "2".into()
            }
        );
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "(a or",
            "(a or b",
            "a or b",
            "(a or b and c)",
            "(a or b) x",
            "(or a)",
            "(a >=)",
            "(a else b)",
            "()",
        ] {
            let e = RichDep::parse(bad).unwrap_err();
            assert!(e.to_string().contains(bad), "{e}");
        }
    }
}
