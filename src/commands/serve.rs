//! `certsmith serve`: CRLs, CA certificates and OCSP over HTTP.

use certsmith::error::Result;
use certsmith::ops::serve::ServeRequest;

use super::Ctx;
use crate::cli::ServeArgs;

pub fn run(ctx: &Ctx, a: ServeArgs) -> Result<()> {
    let req = ServeRequest {
        listen: a.listen.clone(),
        sign_with_ca: a.ocsp_sign_with_ca,
        max_connections: a.max_connections,
        pass: super::pass_options(&a.pass),
    };
    certsmith::ops::serve::serve(&ctx.pki, &req, |addr, notes| {
        for n in notes {
            certsmith::error::diagnostic("certsmith: serve: ", n);
        }
        certsmith::error::diagnostic("certsmith: serve: ", &format!("listening on http://{addr}"));
    })
}
