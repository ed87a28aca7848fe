//! Making text safe to print: network text cleaned of control characters and cut to one length,
//! and secrets (the admin token, the Cloudflare API token) replaced wherever they appear.

/// The most characters of a network text (an API's title, detail or error) that are printed.
pub const MAX_SHOWN_CHARS: usize = 200;

/// A text from the network made safe to print: no control characters, at most
/// [`MAX_SHOWN_CHARS`] characters.
pub fn clean(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_control())
        .take(MAX_SHOWN_CHARS)
        .collect()
}

/// `msg` with every occurrence of `secret` replaced by `[label]`.
pub fn redact(msg: &str, secret: &str, label: &str) -> String {
    if secret.is_empty() {
        msg.to_owned()
    } else {
        msg.replace(secret, &format!("[{label}]"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_drops_control_characters_and_cuts_at_the_limit() {
        assert_eq!(clean("Boom\u{1b}[31m\n"), "Boom[31m");
        let long = "é".repeat(MAX_SHOWN_CHARS + 50);
        assert_eq!(clean(&long).chars().count(), MAX_SHOWN_CHARS);
        assert_eq!(clean(""), "");
    }

    #[test]
    fn every_occurrence_of_the_secret_is_replaced() {
        assert_eq!(
            redact("token s3cr3t is wrong: s3cr3t", "s3cr3t", "admin token"),
            "token [admin token] is wrong: [admin token]"
        );
        assert_eq!(redact("nothing here", "", "x"), "nothing here");
    }
}
