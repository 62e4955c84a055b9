//! `certsmith ca set-urls <ca>`: the revocation URLs put in the
//! certificates a CA issues from now on.

use certsmith::error::Result;

use super::Ctx;
use crate::cli::SetUrlsArgs;

pub fn run(ctx: &Ctx, a: SetUrlsArgs) -> Result<()> {
    let mut change = super::url_change(&a.urls);
    change.clear = a.clear;
    let urls = certsmith::ops::ca_urls::set_urls(&ctx.pki, &a.ca, &change)?;
    ctx.report(
        || {
            let mut s = super::Lines::new();
            let show = |u: &Option<String>| u.clone().unwrap_or_else(|| "(none)".into());
            s.line(format!(
                "Certificates CA '{}' issues from now on point to:",
                a.ca
            ));
            s.line(format!("  CRL:       {}", show(&urls.crl)));
            s.line(format!("  OCSP:      {}", show(&urls.ocsp)));
            s.line(format!("  caIssuers: {}", show(&urls.ca_issuers)));
            s.line("Certificates issued before keep the URLs they were issued with.");
            s
        },
        &serde_json::to_value(&urls).unwrap_or_default(),
    );
    Ok(())
}
