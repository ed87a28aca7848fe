//! Terminal colour codes in wrangler's output: removed before the CLI reads a message or a log
//! line, since wrangler colours some lines even with `NO_COLOR=1`.

/// Removes ANSI escape sequences (`ESC [ … final byte`, and a lone `ESC x`), which a terminal
/// logger may put around or inside a line.
pub fn strip(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\x1b' {
            out.push(c);
            continue;
        }
        if chars.next_if_eq(&'[').is_some() {
            // Parameters and intermediates, up to and including the final byte (@ to ~).
            for c in chars.by_ref() {
                if ('@'..='~').contains(&c) {
                    break;
                }
            }
        } else {
            chars.next();
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::strip;

    #[test]
    fn colour_codes_go_and_the_text_between_them_stays() {
        assert_eq!(
            strip("\x1b[31m✘ \x1b[41;97mERROR\x1b[0m done"),
            "✘ ERROR done"
        );
        assert_eq!(strip("a\x1b7b"), "ab", "a lone ESC and the byte after it");
        assert_eq!(strip("plain {\"x\":1}"), "plain {\"x\":1}");
    }
}
