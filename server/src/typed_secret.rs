//! A secret an operator gives a command (a password, a Slack URL): typed at a
//! terminal without echo, or piped as one line of standard input; never taken
//! from an argument, where `ps` and the shell's history would keep it.

use std::io::{BufRead, IsTerminal};

use secrecy::{ExposeSecret, SecretString};

/// The secret, asked for with `prompt` at a terminal, else the first line of
/// standard input without its line ending; `what` names it in the errors. An
/// empty one is refused.
pub fn read(prompt: &str, what: &str) -> Result<SecretString, String> {
    let stdin = std::io::stdin();
    let secret = if stdin.is_terminal() {
        rpassword::prompt_password(prompt)
            .map_err(|error| format!("cannot read the {what}: {error}"))?
    } else {
        let mut line = String::new();
        stdin
            .lock()
            .read_line(&mut line)
            .map_err(|error| format!("cannot read the {what} from standard input: {error}"))?;
        line.trim_end_matches(['\r', '\n']).to_string()
    };
    let secret = SecretString::from(secret);
    if secret.expose_secret().is_empty() {
        return Err(format!(
            "no {what} given: type it at the prompt, or pipe it on standard input"
        ));
    }
    Ok(secret)
}
