//! `certsmith completions <shell>`: print a shell completion script, and
//! the hidden `certsmith __complete-names cas|certs` it calls so that a
//! Tab after `--ca`, `--issuer`, `--cert`, `revoke`, `renew`, `export`,
//! `key …` and `ca …` offers the names of the PKI (bash, and zsh through
//! bashcompinit; fish).

use certsmith::error::Result;
use certsmith::ledger::ListFilter;

use super::Ctx;
use crate::cli::{CompleteNamesArgs, CompletionsArgs, NameKind};

pub fn run(a: CompletionsArgs) -> Result<()> {
    let shell = crate::cli::choice::<clap_complete::Shell>("shell", &a.shell)?;
    let mut cmd = crate::help::command();
    // Rendered in memory first: clap_complete panics on a closed pipe.
    let mut buf = Vec::new();
    clap_complete::generate(shell, &mut cmd, "certsmith", &mut buf);
    let mut script = String::from_utf8_lossy(&buf).into_owned();
    match shell {
        clap_complete::Shell::Bash => script.push_str(BASH_NAMES),
        clap_complete::Shell::Fish => script.push_str(FISH_NAMES),
        _ => {}
    }
    super::write_stdout(&script);
    Ok(())
}

/// Names for completion: nothing (and exit 0) when there is no PKI, so a
/// Tab never prints an error into the command line.
pub fn names(ctx: &Ctx, a: CompleteNamesArgs) -> Result<()> {
    let Ok(ledger) = ctx.pki.show_ledger() else {
        return Ok(());
    };
    let names: Vec<String> = match a.kind {
        NameKind::Cas => ledger.cas()?.into_iter().map(|c| c.cert.name).collect(),
        NameKind::Certs => ledger
            .list(&ListFilter::default())?
            .into_iter()
            .filter(|r| r.revoked_at.is_none())
            .map(|r| r.name)
            .collect(),
    };
    let mut out = names.join("\n");
    if !out.is_empty() {
        out.push('\n');
    }
    super::write_stdout(&out);
    Ok(())
}

/// Appended to clap's bash script: CA and certificate names where one goes,
/// clap's completion everywhere else.
const BASH_NAMES: &str = r#"
# certsmith: names from the PKI (the --pki on the line, else as certsmith finds it).
_certsmith_names() {
    local i pki=()
    for ((i = 1; i < COMP_CWORD; i++)); do
        case "${COMP_WORDS[i]}" in
            --pki) pki=(--pki "${COMP_WORDS[i+1]}") ;;
            --pki=*) pki=(--pki "${COMP_WORDS[i]#--pki=}") ;;
        esac
    done
    certsmith "${pki[@]}" __complete-names "$1" 2>/dev/null
}
_certsmith_with_names() {
    local cur="${COMP_WORDS[COMP_CWORD]}" prev="${COMP_WORDS[COMP_CWORD-1]}" kind=""
    local before="${COMP_WORDS[COMP_CWORD-2]:-}"
    case "$prev" in
        --ca|--issuer) kind=cas ;;
        --cert) kind=certs ;;
        revoke|renew|export) kind=certs ;;
        offline|online|change-passphrase|set-urls|set-crl)
            [[ "$before" == key || "$before" == ca ]] && kind=cas ;;
    esac
    if [[ -n "$kind" ]]; then
        COMPREPLY=( $(compgen -W "$(_certsmith_names "$kind")" -- "$cur") )
        return 0
    fi
    _certsmith "$@"
}
if [[ "${BASH_VERSINFO[0]}" -eq 4 && "${BASH_VERSINFO[1]}" -ge 4 || "${BASH_VERSINFO[0]}" -gt 4 ]]; then
    complete -F _certsmith_with_names -o nosort -o bashdefault -o default certsmith
else
    complete -F _certsmith_with_names -o bashdefault -o default certsmith
fi
"#;

/// Appended to clap's fish script.
const FISH_NAMES: &str = r#"
# certsmith: names from the PKI.
complete -c certsmith -l ca -x -a '(certsmith __complete-names cas 2>/dev/null)'
complete -c certsmith -l issuer -x -a '(certsmith __complete-names cas 2>/dev/null)'
complete -c certsmith -l cert -x -a '(certsmith __complete-names certs 2>/dev/null)'
complete -c certsmith -n '__fish_seen_subcommand_from revoke renew export' -f -a '(certsmith __complete-names certs 2>/dev/null)'
complete -c certsmith -n '__fish_seen_subcommand_from offline online change-passphrase set-urls set-crl' -f -a '(certsmith __complete-names cas 2>/dev/null)'
"#;
