//! Text every front end shows the same way (the CLI, `dnf stack`): free
//! text on one line, and tables as `koji list-tagged` and `dnf list` lay
//! them out.

use std::borrow::Cow;

/// `text` with control characters (newlines included) and Unicode line
/// separators escaped (`\n`, `\u{1b}`), so that a field read from a
/// registry or a repository always prints as one line and cannot pass for
/// another one.
pub fn one_line(text: &str) -> Cow<'_, str> {
    let escape = |c: char| c.is_control() || matches!(c, '\u{2028}' | '\u{2029}');
    if !text.chars().any(escape) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if escape(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// A table as `koji list-tagged` and `dnf list` print one: each column as
/// wide as its widest cell, header included, two spaces apart; the last
/// column is not padded, so no line ends in blanks. Widths count
/// characters, as `format!`'s padding does. Cells are taken as they are:
/// pass free text through [`one_line`] first.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let header: Vec<String> = header.iter().map(|h| h.to_string()).collect();
    let mut out = String::new();
    for row in std::iter::once(&header).chain(rows) {
        let mut line = String::new();
        for (i, (cell, width)) in row.iter().zip(&widths).enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<width$}  "));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn table_columns_are_as_wide_as_their_widest_cell() {
        let rows = vec![
            vec![
                "a".to_owned(),
                "apache-httpd-experimental:rawhide".to_owned(),
                "x86_64".to_owned(),
            ],
            vec![
                "über".to_owned(),
                "php:8.2".to_owned(),
                "x86_64,aarch64".to_owned(),
            ],
        ];
        assert_eq!(
            table(&["ID", "NVSC", "ARCHES"], &rows),
            "ID    NVSC                               ARCHES\n\
             a     apache-httpd-experimental:rawhide  x86_64\n\
             über  php:8.2                            x86_64,aarch64\n"
        );
    }

    #[test]
    fn an_empty_last_cell_leaves_no_blanks() {
        let rows = vec![vec!["php:8.2".to_owned(), String::new()]];
        assert_eq!(table(&["Stack", ""], &rows), "Stack\nphp:8.2\n");
    }

    #[test]
    fn one_line_escapes_what_could_start_a_line() {
        assert_eq!(one_line("a1b2c3d"), "a1b2c3d");
        assert_eq!(one_line("über-ref"), "über-ref");
        assert_eq!(
            one_line("a1b2\nState: finished\r\t\u{1b}[2J\u{2028}x"),
            "a1b2\\nState: finished\\r\\t\\u{1b}[2J\\u{2028}x"
        );
    }
}
