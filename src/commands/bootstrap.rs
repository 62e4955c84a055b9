//! `certsmith bootstrap`: root + intermediate + first device certificate in
//! one non-interactive command (flags and defaults).

use certsmith::ca::CaRequest;
use certsmith::error::Result;
use certsmith::names::{NameConstraintSet, Subject};
use certsmith::passphrase::{self, PassOptions};

use super::Ctx;
use crate::cli::{BootstrapArgs, LeafArgs};

pub fn run(ctx: &Ctx, a: BootstrapArgs) -> Result<()> {
    certsmith::bundle::target(&a.target)?;
    let org = a.org.clone().unwrap_or_else(|| "certsmith".to_string());
    let (pass_opts, kdf) = super::new_key_options(&a.pass, &a.protect)?;
    // Ask once; the same passphrase protects root and intermediate.
    let pass = passphrase::for_new_key(&pass_opts, "the new CAs")?;
    let opts = PassOptions {
        given: pass.clone(),
        no_passphrase: pass.is_none(),
        file: None,
    };
    let org_attr = org.replace(',', "\\,");
    let root_req = CaRequest {
        subject: Subject::parse(&format!("CN={org_attr} Root CA,O={org_attr}"))?,
        validity: super::validity(a.root_validity.as_deref())?,
        pathlen: None,
        constraints: NameConstraintSet::default(),
        clamp: false,
    };
    let root = super::init::create(ctx, "root", &root_req, a.root_key.as_deref(), &opts, kdf)?;
    let inter_req = CaRequest {
        subject: Subject::parse(&format!("CN={org_attr} Issuing CA,O={org_attr}"))?,
        validity: super::validity(a.intermediate_validity.as_deref())?,
        ..root_req.clone()
    };
    let inter = super::intermediate::create(
        ctx,
        &a.intermediate_name,
        "root",
        &inter_req,
        a.key.as_deref(),
        &opts,
        &opts,
        kdf,
    )?;
    let leaf_args = LeafArgs {
        ca: Some(a.intermediate_name.clone()),
        profile: "device".into(),
        validity: None,
        clamp: false,
        subject: None,
        cn: None,
        san: Vec::new(),
        force: false,
        out: None,
        pass: Default::default(),
    };
    let device = super::issue::issue(ctx, &a.device, a.key.as_deref(), &leaf_args, &opts)?;
    // First (empty) CRLs, which servers like nginx need, then the
    // trust-store bundle for --target, with its rules checked.
    let mut ledger = ctx.pki.open_ledger()?;
    for ca in ["root", a.intermediate_name.as_str()] {
        let signer = certsmith::ca::Signer::load(&ctx.pki, &ledger, ca, &opts)?;
        certsmith::crl::write(
            &ctx.pki,
            &mut ledger,
            &signer,
            time::Duration::days(7),
            false,
        )?;
    }
    let bundle = certsmith::bundle::build(
        &ctx.pki,
        &ledger,
        &a.target,
        &certsmith::bundle::Options {
            pass: opts.clone(),
            ..Default::default()
        },
    )?;
    let json = serde_json::json!({ "root": root, "intermediate": inter, "device": device, "bundle": bundle });
    let p = super::pki_flag(ctx);
    ctx.report(
        || {
            let mut s = format!(
                "Created root CA '{}', intermediate CA '{}' and device certificate '{}' in {}.\n",
                root.name,
                inter.name,
                device.name,
                ctx.pki.root.display()
            );
            s.push_str(&super::file_lines(&root.files));
            s.push_str(&super::file_lines(&inter.files));
            s.push_str(&super::file_lines(&device.files));
            if !root.encrypted {
                s.push_str("warning: the CA keys are stored unencrypted (--no-passphrase)\n");
            }
            s.push_str(&super::bundle::human(&bundle));
            s.push_str(&format!(
                "Then:\n  certsmith{p} issue device-002\n  certsmith{p} issue api --profile server --san dns:api.example.internal\n  certsmith{p} status\n"
            ));
            s
        },
        &json,
    );
    Ok(())
}
