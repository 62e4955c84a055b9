//! Command-line types (clap derive). No logic lives here: `commands/` turns
//! these into plain values for the library.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// A private certificate authority for mutual TLS: roots, intermediates,
/// device / client / server certificates, CRLs and trust-store bundles.
#[derive(Debug, Parser)]
#[command(
    name = "certsmith",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
#[command(next_help_heading = "Global options")]
pub struct GlobalArgs {
    /// PKI directory [default: ./pki if it exists, else the current directory or the nearest one above it holding a ledger.db, else ./pki]
    #[arg(long, global = true, env = "CERTSMITH_PKI", value_hint = clap::ValueHint::DirPath)]
    pub pki: Option<PathBuf>,
    /// Print one JSON document on stdout and nothing else there
    #[arg(long, global = true)]
    pub json: bool,
    /// Print nothing on success
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// Assume yes; never prompt
    #[arg(long, global = true)]
    pub yes: bool,
    /// Accept a PKI directory or CA key readable by group or others
    #[arg(long, global = true)]
    pub allow_insecure_perms: bool,
    /// Ledger URL: sqlite:PATH (default sqlite:<pki>/ledger.db) or postgres://user@host:port/db
    #[arg(long, global = true, env = "CERTSMITH_LEDGER", value_name = "URL")]
    pub ledger: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create the PKI directory and a self-signed root CA
    Init(InitArgs),
    /// Create an intermediate CA signed by another CA of this PKI
    Intermediate(IntermediateArgs),
    /// Make a new key and certificate from a profile
    Issue(IssueArgs),
    /// Make a certificate for a CSR (the key stays where it was made)
    Sign(SignArgs),
    /// Issue many certificates from a CSV or JSON Lines manifest, in parallel
    Batch(BatchArgs),
    /// Mark a certificate revoked in the ledger
    Revoke(RevokeArgs),
    /// Write the CRL of a CA
    Crl(CrlArgs),
    /// Package CA certificates (and CRLs) for a trust store and check its rules
    Bundle(BundleArgs),
    /// Validate a certificate chain the way a trust store would
    Verify(VerifyArgs),
    /// Show a certificate, CSR, CRL, bundle or key (never prints secrets)
    Inspect(InspectArgs),
    /// List certificates in the ledger
    List(ListArgs),
    /// Exit 0 when a certificate needs renewal, 1 when not (for cron jobs)
    NeedsRenewal(NeedsRenewalArgs),
    /// Show the CA hierarchy with issued, revoked and expiring counts
    Status,
    /// Check the PKI directory: ledger, files, keys, permissions, CRLs
    Doctor(DoctorArgs),
    /// Re-issue a certificate with the same subject and SANs
    Renew(RenewArgs),
    /// Export a certificate and key as PKCS#12, a Kubernetes Secret or PEM
    Export(ExportArgs),
    /// Manage CA keys
    #[command(subcommand)]
    Key(KeyCommand),
    /// Change a CA's settings
    #[command(subcommand)]
    Ca(CaCommand),
    /// Serve CRLs, CA certificates and OCSP over HTTP
    Serve(ServeArgs),
    /// Create root, intermediate, first device certificate and a trust-store bundle
    Bootstrap(BootstrapArgs),
    /// Print a shell completion script
    Completions(CompletionsArgs),
    /// Write certsmith's man pages (from this binary; no source checkout needed)
    Man(ManArgs),
    /// The CA or certificate names of the PKI, one a line (called by the completion scripts)
    #[command(name = "__complete-names", hide = true)]
    CompleteNames(CompleteNamesArgs),
    /// Remove the *.old-<serial> files renewals kept aside, once older than a length
    Prune(PruneArgs),
    /// Show the ledger, or copy it to another backend (SQLite, PostgreSQL)
    #[command(subcommand)]
    Ledger(LedgerCommand),
}

#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Remove files kept aside longer than this length, e.g. 30d
    #[arg(long, value_name = "LENGTH")]
    pub older_than: String,
}

/// Where a CA key's passphrase comes from.
#[derive(Debug, Args, Clone, Default)]
pub struct PassArgs {
    /// Read the CA key passphrase from FILE (one trailing newline is stripped); also $CERTSMITH_PASSPHRASE
    #[arg(long, value_name = "FILE", value_hint = clap::ValueHint::FilePath)]
    pub passphrase_file: Option<PathBuf>,
    /// Read the user PIN of a PKCS#11 token holding a CA key from FILE; also $CERTSMITH_PKCS11_PIN
    #[arg(long, value_name = "FILE", value_hint = clap::ValueHint::FilePath)]
    pub pin_file: Option<PathBuf>,
}

/// Where a new CA key lives: a key file, or a PKCS#11 token.
#[derive(Debug, Args, Clone, Default)]
pub struct KeyStoreArgs {
    /// Where the new CA key lives: file (ca.key.pem) or pkcs11 (generated in a token, never leaves it)
    #[arg(long, value_name = "STORE", default_value = "file", value_parser = named::<KeyStoreArg>())]
    pub key_store: String,
    /// The token's PKCS#11 module (shared library); also $CERTSMITH_PKCS11_MODULE
    #[arg(long, value_name = "PATH", value_hint = clap::ValueHint::FilePath)]
    pub pkcs11_module: Option<PathBuf>,
    /// The token (and optionally an existing key) as an RFC 7512 URI, e.g. 'pkcs11:token=acme-ca;object=root-2026'
    #[arg(long, value_name = "URI")]
    pub pkcs11_uri: Option<String>,
}

/// How a new CA key is protected.
#[derive(Debug, Args, Clone, Default)]
pub struct NewKeyProtection {
    /// Store the new CA key unencrypted (must be said explicitly)
    #[arg(long)]
    pub no_passphrase: bool,
    /// Key derivation for the encrypted key: scrypt (N=2^14, r=8, p=1) or pbkdf2 (PBKDF2-HMAC-SHA256, 600,000 iterations)
    #[arg(long, value_name = "KDF", default_value = "scrypt", value_parser = named::<KdfArg>())]
    pub kdf: String,
}

/// Flags shared by `init` and `intermediate`.
#[derive(Debug, Args, Clone)]
pub struct CaArgs {
    /// Subject, e.g. "CN=Acme Root CA,O=Acme,C=CH"
    #[arg(long, conflicts_with = "cn")]
    pub subject: Option<String>,
    /// Common name (shorthand for --subject CN=…)
    #[arg(long)]
    pub cn: Option<String>,
    /// Key type [default: ecdsa-p384 for a root, ecdsa-p256 for an intermediate]
    #[arg(long, value_name = "KEY", value_parser = named::<KeyTypeArg>())]
    pub key: Option<String>,
    /// Validity: 90d, 12h, 5y or an RFC 3339 end time [default: 10y for a root, 5y for an intermediate]
    #[arg(long)]
    pub validity: Option<String>,
    /// Shorten the validity to the issuer's notAfter instead of failing
    #[arg(long)]
    pub clamp: bool,
    /// Maximum number of CAs below this one
    #[arg(long)]
    pub pathlen: Option<u8>,
    /// Permitted DNS subtree (name constraint; repeat)
    #[arg(long, value_name = "DOMAIN")]
    pub permit_dns: Vec<String>,
    /// Excluded DNS subtree (name constraint; repeat)
    #[arg(long, value_name = "DOMAIN")]
    pub exclude_dns: Vec<String>,
    /// Permitted IP range (name constraint; repeat)
    #[arg(long, value_name = "CIDR")]
    pub permit_ip: Vec<String>,
    /// Excluded IP range (name constraint; repeat)
    #[arg(long, value_name = "CIDR")]
    pub exclude_ip: Vec<String>,
    #[command(flatten)]
    pub pass: PassArgs,
    #[command(flatten)]
    pub protect: NewKeyProtection,
    /// Adopt an existing CA certificate (PEM or DER) instead of making one
    #[arg(long, value_name = "FILE", requires = "import_key", value_hint = clap::ValueHint::FilePath,
          conflicts_with_all = ["subject", "cn", "key", "validity", "clamp", "pathlen", "permit_dns", "exclude_dns", "permit_ip", "exclude_ip", "crl_url", "ocsp_url", "ca_issuers_url"])]
    pub import_cert: Option<PathBuf>,
    /// The private key of --import-cert (PKCS#8 plain or encrypted, SEC1 or PKCS#1 PEM)
    #[arg(long, value_name = "FILE", requires = "import_cert", value_hint = clap::ValueHint::FilePath)]
    pub import_key: Option<PathBuf>,
    /// Read the passphrase of an encrypted --import-key from FILE (default: as for the new key)
    #[arg(long, value_name = "FILE", requires = "import_key", value_hint = clap::ValueHint::FilePath)]
    pub import_passphrase_file: Option<PathBuf>,
    /// This CA publishes no CRL: no cRLSign in a new CA; accept an imported CA without it
    #[arg(long)]
    pub no_crl: bool,
    #[command(flatten)]
    pub store: KeyStoreArgs,
    #[command(flatten)]
    pub urls: UrlArgs,
}

/// Where a CA's certificates point for revocation data.
#[derive(Debug, Args, Clone, Default)]
pub struct UrlArgs {
    /// CRL Distribution Point put in the certificates this CA issues (http://…; `{ca}` is the CA's name)
    #[arg(long, value_name = "URL")]
    pub crl_url: Option<String>,
    /// OCSP responder URL (AIA) put in the certificates this CA issues
    #[arg(long, value_name = "URL")]
    pub ocsp_url: Option<String>,
    /// caIssuers URL (AIA): where this CA's certificate can be fetched
    #[arg(long, value_name = "URL")]
    pub ca_issuers_url: Option<String>,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Name of the root CA
    #[arg(long, default_value = "root")]
    pub name: String,
    #[command(flatten)]
    pub ca: CaArgs,
}

#[derive(Debug, Args)]
pub struct IntermediateArgs {
    /// Name of the new CA
    pub name: String,
    /// CA that signs it
    #[arg(long, default_value = "root")]
    pub issuer: String,
    /// Read the issuer key's passphrase from FILE (default: as for the new key)
    #[arg(long, value_name = "FILE", value_hint = clap::ValueHint::FilePath)]
    pub issuer_passphrase_file: Option<PathBuf>,
    #[command(flatten)]
    pub ca: CaArgs,
}

/// Flags shared by commands that sign a leaf.
#[derive(Debug, Args, Clone)]
pub struct LeafArgs {
    /// Issuing CA (default: the only intermediate, else the root)
    #[arg(long)]
    pub ca: Option<String>,
    /// Profile: device, client, server, peer, or one in <pki>/templates/
    #[arg(long, default_value = "device")]
    pub profile: String,
    /// Validity: 90d, 12h, 5y or an RFC 3339 end time
    #[arg(long)]
    pub validity: Option<String>,
    /// Shorten the validity to the issuer's notAfter instead of failing
    #[arg(long)]
    pub clamp: bool,
    /// Subject, e.g. "CN=Acme Device 42,O=Acme,C=CH"
    #[arg(long, conflicts_with = "cn")]
    pub subject: Option<String>,
    /// Common name
    #[arg(long)]
    pub cn: Option<String>,
    /// Subject alternative name: dns:…, ip:…, uri:…, email:… (repeat)
    #[arg(long)]
    pub san: Vec<String>,
    /// Replace an existing name (old files kept as *.old-<serial>)
    #[arg(long)]
    pub force: bool,
    /// Write the files to DIR instead of <pki>/certs/<name>/
    #[arg(long, value_name = "DIR", value_hint = clap::ValueHint::DirPath)]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub pass: PassArgs,
}

#[derive(Debug, Args)]
pub struct IssueArgs {
    /// Certificate name (directory under certs/, and CN by default)
    pub name: String,
    /// Key type [default: the profile's, ecdsa-p256 for the built-in ones]
    #[arg(long, value_name = "KEY", value_parser = named::<KeyTypeArg>())]
    pub key: Option<String>,
    #[command(flatten)]
    pub leaf: LeafArgs,
    /// Skip fsync: for throwaway PKIs only (refused when a CA key is encrypted or in a token; doctor reports it)
    #[arg(long)]
    pub no_sync: bool,
}

#[derive(Debug, Args)]
pub struct SignArgs {
    /// CSR file (PEM or DER)
    #[arg(value_hint = clap::ValueHint::FilePath)]
    pub csr: PathBuf,
    /// Certificate name (default: the CSR's CN)
    #[arg(long)]
    pub name: Option<String>,
    #[command(flatten)]
    pub leaf: LeafArgs,
}

#[derive(Debug, Args)]
pub struct BatchArgs {
    /// Manifest: CSV (header name,cn,san) or JSON Lines
    #[arg(value_hint = clap::ValueHint::FilePath, required_unless_present_any = ["count", "csr_dir"])]
    pub manifest: Option<PathBuf>,
    /// Issue N certificates named by --name-pattern instead of a manifest (at most 1,000,000)
    #[arg(long, conflicts_with = "manifest", value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub count: Option<u64>,
    /// Name pattern for --count, e.g. 'device-{:06}'
    #[arg(long, default_value = "device-{:06}")]
    pub name_pattern: String,
    /// Issuing CA (default: the only intermediate, else the root)
    #[arg(long)]
    pub ca: Option<String>,
    /// Profile for every certificate
    #[arg(long, default_value = "device")]
    pub profile: String,
    /// Key type for every certificate [default: the profile's, ecdsa-p256 for the built-in ones]
    #[arg(long, value_name = "KEY", value_parser = named::<KeyTypeArg>())]
    pub key: Option<String>,
    /// Validity for every certificate
    #[arg(long)]
    pub validity: Option<String>,
    /// Shorten validities to the issuer's notAfter instead of failing
    #[arg(long)]
    pub clamp: bool,
    /// Write per-certificate directories under DIR instead of <pki>/certs/
    #[arg(long, value_name = "DIR", value_hint = clap::ValueHint::DirPath)]
    pub out: Option<PathBuf>,
    /// Worker threads, 1 to 256 (default: all cores)
    #[arg(long, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=256))]
    pub jobs: Option<usize>,
    /// Skip names already in the ledger (resume an interrupted run)
    #[arg(long)]
    pub skip_existing: bool,
    /// Validate the whole manifest and stop
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub pass: PassArgs,
    /// Write every device into one tar archive FILE (new, mode 0600) instead of directories; '-' is stdout
    #[arg(long, value_name = "FILE", conflicts_with = "out", value_hint = clap::ValueHint::FilePath)]
    pub archive: Option<PathBuf>,
    /// What each device gets: pem (key, cert, chain, fullchain) or p12 (<name>.p12 instead of key.pem)
    #[arg(long, default_value = "pem", value_parser = named::<BatchFormat>())]
    pub format: String,
    /// Read the password of every device's PKCS#12 file from FILE (--format p12)
    #[arg(long, value_name = "FILE", value_hint = clap::ValueHint::FilePath)]
    pub p12_passphrase_file: Option<PathBuf>,
    /// Sign every *.csr / *.pem file in DIR (keys made on the devices) instead of making keys
    #[arg(long, value_name = "DIR", conflicts_with_all = ["manifest", "count"], value_hint = clap::ValueHint::DirPath)]
    pub csr_dir: Option<PathBuf>,
    /// How --csr-dir names each certificate: file (the file name without extension) or cn (the CSR's CN)
    #[arg(long, default_value = "file", requires = "csr_dir", value_parser = named::<NameFromArg>())]
    pub name_from: String,
    /// Skip fsync: for throwaway PKIs only (refused when a CA key is encrypted or in a token; doctor reports it)
    #[arg(long)]
    pub no_sync: bool,
}

/// `batch --format`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum BatchFormat {
    Pem,
    P12,
}

/// `batch --name-from`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum NameFromArg {
    File,
    Cn,
}

#[derive(Debug, Args)]
pub struct RevokeArgs {
    /// Certificate name or serial (hex)
    pub target: String,
    /// Revocation reason, as the CRL records it
    #[arg(long, default_value = "unspecified", value_parser = named::<ReasonArg>())]
    pub reason: String,
    /// Issuing CA, when a serial is ambiguous
    #[arg(long)]
    pub ca: Option<String>,
}

#[derive(Debug, Args)]
pub struct CrlArgs {
    /// CA whose CRL to write (default: every CA)
    #[arg(long)]
    pub ca: Option<String>,
    /// nextUpdate, as a length from now, for this run (default: the CA's `ca set-crl --next-update`, else 180d for a root, 7d for an issuing CA)
    #[arg(long)]
    pub next_update: Option<String>,
    /// Also write crl.der
    #[arg(long)]
    pub der: bool,
    /// Passphrase file of CA's key (CA=FILE, repeat per CA), or FILE for every CA not named; also $CERTSMITH_PASSPHRASE
    #[arg(long, value_name = "[CA=]FILE", value_hint = clap::ValueHint::FilePath)]
    pub passphrase_file: Vec<String>,
    /// Read the user PIN of a PKCS#11 token holding a CA key from FILE; also $CERTSMITH_PKCS11_PIN
    #[arg(long, value_name = "FILE", value_hint = clap::ValueHint::FilePath)]
    pub pin_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct BundleArgs {
    /// Trust store the bundle is for
    #[arg(long, default_value = "generic", value_parser = named::<TargetArg>())]
    pub target: String,
    /// CAs to include (repeat; default: every CA not revoked or expired)
    #[arg(long)]
    pub ca: Vec<String>,
    /// Include the CRLs
    #[arg(long)]
    pub with_crl: bool,
    /// Output directory (default <pki>/bundles/<target>/)
    #[arg(long, value_name = "DIR", value_hint = clap::ValueHint::DirPath)]
    pub out: Option<PathBuf>,
    /// AWS IoT registration code (aws-iot target)
    #[arg(long)]
    pub registration_code: Option<String>,
    /// A leaf whose cert and key go into the Secret (k8s target)
    #[arg(long)]
    pub cert: Option<String>,
    /// Print the add of every CRL, even those confirmed as uploaded, and no remove (aws-alb)
    #[arg(long)]
    pub force: bool,
    /// The ALB trust store whose CRL uploads are tracked (aws-alb; default: default)
    #[arg(long, value_name = "NAME")]
    pub trust_store: Option<String>,
    /// Confirm that the bundle's CRL of CA was added as REVOCATION_ID (aws-alb; repeat)
    #[arg(long, value_name = "CA=REVOCATION_ID")]
    pub uploaded: Vec<String>,
    /// Confirm that the list of a CA no longer bundled was removed (aws-alb; repeat)
    #[arg(long, value_name = "CA")]
    pub removed: Vec<String>,
    #[command(flatten)]
    pub pass: PassArgs,
    /// Bundle every current CA even if they differ from this target's last bundle
    #[arg(long)]
    pub accept_ca_change: bool,
    /// Print the registration with --allow-auto-registration (aws-iot; just-in-time registration)
    #[arg(long)]
    pub allow_auto_registration: bool,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Certificate to check (PEM or DER; extra PEM certificates are taken as the chain)
    #[arg(value_hint = clap::ValueHint::FilePath, required_unless_present = "alb_header")]
    pub cert: Option<PathBuf>,
    /// Check the chain of an ALB passthrough X-Amzn-Mtls-Clientcert header value in FILE (- for stdin)
    #[arg(long, value_name = "FILE", conflicts_with = "cert", value_hint = clap::ValueHint::FilePath)]
    pub alb_header: Option<PathBuf>,
    /// Trust anchors from a PEM bundle
    #[arg(long, conflicts_with = "ca", value_hint = clap::ValueHint::FilePath)]
    pub bundle: Option<PathBuf>,
    /// Trust the root above CA NAME of this PKI
    #[arg(long)]
    pub ca: Option<String>,
    /// Intermediate certificates (PEM)
    #[arg(long, value_hint = clap::ValueHint::FilePath)]
    pub chain: Option<PathBuf>,
    /// What the certificate must be good for
    #[arg(long, default_value = "any", value_parser = named::<PurposeArg>())]
    pub purpose: String,
    /// CRL files to check revocation against (repeat)
    #[arg(long, value_hint = clap::ValueHint::FilePath)]
    pub crl: Vec<PathBuf>,
    /// Check at this time (RFC 3339) instead of now
    #[arg(long)]
    pub at: Option<String>,
    /// Require this DNS name in the certificate
    #[arg(long)]
    pub dns: Option<String>,
    /// Require this IP address in the certificate
    #[arg(long)]
    pub ip: Option<String>,
    /// Require this email address in the certificate (client identities)
    #[arg(long)]
    pub email: Option<String>,
    /// Also check a trust-store target's rules
    #[arg(long, value_parser = named::<TargetArg>())]
    pub target: Option<String>,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Certificate, chain, CSR, CRL or key file (PEM or DER)
    #[arg(value_hint = clap::ValueHint::FilePath)]
    pub file: PathBuf,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only certificates issued by this CA
    #[arg(long)]
    pub ca: Option<String>,
    /// Only certificates still valid that expire within this length, e.g. 30d (as --validity takes it)
    #[arg(long, value_name = "LENGTH", conflicts_with = "expired")]
    pub expiring_within: Option<String>,
    /// Only expired certificates (not revoked)
    #[arg(long, conflicts_with = "revoked")]
    pub expired: bool,
    /// Exit 1 when the list is not empty (e.g. a cron job alerting on --expiring-within 30d); 2 on bad input, 3 on any other failure
    #[arg(long)]
    pub fail_if_any: bool,
    /// Only revoked certificates
    #[arg(long)]
    pub revoked: bool,
    /// Include superseded certificates and CAs
    #[arg(long)]
    pub all: bool,
}

/// `certsmith needs-renewal`: exit 0 when renewal is needed, 1 when not,
/// 2 on bad input, 3 on any other failure.
#[derive(Debug, Args)]
#[command(after_help = "\
Renewal is needed when the certificate has expired, or is within --within of its notAfter;
without --within, in the last third of its lifetime (past two thirds, as step does).
A revoked certificate never needs renewal. Exit codes: 0 needs renewal, 1 does not,
2 bad input (unknown name, unreadable file, bad length), 3 any other failure (ledger broken or locked).

Examples:
  certsmith needs-renewal device-001 && certsmith renew device-001
  certsmith needs-renewal pki/certs/web/cert.pem --within 30d")]
pub struct NeedsRenewalArgs {
    /// A certificate name in the ledger, or a certificate file (PEM or DER): a path with a `/`, or a file that exists
    pub cert: String,
    /// Renew when it expires within this length, e.g. 30d (default: the last third of its lifetime)
    #[arg(long, value_name = "LENGTH")]
    pub within: Option<String>,
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Fix what can be fixed safely (permissions, interrupted writes, temporary files)
    #[arg(long)]
    pub repair: bool,
    /// With --repair: revoke the pending certificates of an interrupted `batch --archive` whose archive is gone
    #[arg(long, requires = "repair")]
    pub archive_lost: bool,
    /// Read the user PIN of PKCS#11 tokens holding CA keys from FILE, to check their keys; also $CERTSMITH_PKCS11_PIN
    #[arg(long, value_name = "FILE", value_hint = clap::ValueHint::FilePath)]
    pub pin_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct RenewArgs {
    /// Certificate name (or --expiring-within for every certificate due)
    #[arg(
        required_unless_present = "expiring_within",
        conflicts_with = "expiring_within"
    )]
    pub name: Option<String>,
    /// Sign the new certificate with this CA (moves it there)
    #[arg(long)]
    pub ca: Option<String>,
    /// Renew every valid certificate that expires within this length, e.g. 30d
    #[arg(long, value_name = "LENGTH")]
    pub expiring_within: Option<String>,
    /// List what would be renewed and what would fail, change nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Validity of the new certificate (default: the profile's)
    #[arg(long)]
    pub validity: Option<String>,
    /// Shorten the validity to the issuer's notAfter instead of failing
    #[arg(long)]
    pub clamp: bool,
    /// Keep the current key instead of making a new one
    #[arg(long)]
    pub reuse_key: bool,
    /// Also revoke the old certificate (reason superseded)
    #[arg(long)]
    pub revoke_old: bool,
    #[command(flatten)]
    pub pass: PassArgs,
    /// Renew the certificate even though it is revoked (refused otherwise).
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Certificate name
    pub name: String,
    /// Export format: p12 (key, certificate and chain), k8s-secret (secret.yaml) or pem (combined.pem)
    #[arg(long, default_value = "p12", value_parser = named::<ExportFormatArg>())]
    pub format: String,
    /// Output file
    #[arg(long, value_name = "FILE", value_hint = clap::ValueHint::FilePath)]
    pub out: Option<PathBuf>,
    /// PKCS#12 with 3DES / SHA-1 for old devices and Java
    #[arg(long)]
    pub legacy: bool,
    /// Read the PKCS#12 password from FILE (else a prompt; there is no default password)
    #[arg(long, value_name = "FILE", value_hint = clap::ValueHint::FilePath)]
    pub p12_passphrase_file: Option<PathBuf>,
    /// Replace an existing export file
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Re-encrypt a CA key with a new passphrase, in place
    ChangePassphrase(ChangePassphraseArgs),
    /// Mark a CA's key as away (a root in a safe, a token unplugged): it signs nothing until `key online`
    Offline(KeyPlaceArgs),
    /// Mark a CA's key as back, after `key offline`
    Online(KeyPlaceArgs),
}

#[derive(Debug, Subcommand)]
pub enum CaCommand {
    /// Set the CRL / OCSP / caIssuers URLs put in certificates the CA issues from now on
    SetUrls(SetUrlsArgs),
    /// Store a CA's CRL lengths: nextUpdate and how long expired certificates stay listed
    SetCrl(SetCrlArgs),
    /// Set (or show) the CA that issue, sign and batch use without --ca
    Default(CaDefaultArgs),
    /// Stop a CA issuing; bundles keep it until its last certificate expires
    Retire(CaRetireArgs),
    /// Re-issue a CA's certificate for the same key (what it signed keeps verifying)
    Renew(CaRenewArgs),
    /// Certify a new root with an old one, so peers trusting the old root accept the new
    CrossSign(CrossSignArgs),
}

#[derive(Debug, Args)]
pub struct CaRenewArgs {
    /// CA name
    pub ca: String,
    /// Validity of the new certificate (default: the CA profile's)
    #[arg(long)]
    pub validity: Option<String>,
    /// Shorten the validity to the issuer's notAfter instead of failing
    #[arg(long)]
    pub clamp: bool,
    #[command(flatten)]
    pub pass: PassArgs,
}

#[derive(Debug, Args)]
pub struct CrossSignArgs {
    /// The new root CA
    pub ca: String,
    /// The old root CA that signs
    #[arg(long)]
    pub by: String,
    /// Validity of the cross-certificate (default: the intermediate profile's)
    #[arg(long)]
    pub validity: Option<String>,
    /// Shorten the validity to the old root's notAfter instead of failing
    #[arg(long)]
    pub clamp: bool,
    #[command(flatten)]
    pub pass: PassArgs,
}

#[derive(Debug, Args)]
pub struct CaDefaultArgs {
    /// CA name (leave out to show the current default)
    pub ca: Option<String>,
    /// Make it the default even though its key was exported for a mesh
    #[arg(long, requires = "ca")]
    pub yes: bool,
}

#[derive(Debug, Args)]
pub struct CaRetireArgs {
    /// CA name
    pub ca: String,
}

#[derive(Debug, Args)]
pub struct SetUrlsArgs {
    /// CA name
    pub ca: String,
    #[command(flatten)]
    pub urls: UrlArgs,
    /// Remove the URLs not given with this command
    #[arg(long)]
    pub clear: bool,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on (loopback by default; put a reverse proxy in front for others)
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR:PORT")]
    pub listen: String,
    /// Sign OCSP responses with the CA key instead of a delegated responder certificate
    #[arg(long)]
    pub ocsp_sign_with_ca: bool,
    /// Most connections served at once
    #[arg(long, default_value_t = 256, value_name = "N")]
    pub max_connections: usize,
    #[command(flatten)]
    pub pass: PassArgs,
}

#[derive(Debug, Args)]
pub struct KeyPlaceArgs {
    /// CA name
    pub ca: String,
}

#[derive(Debug, Args)]
pub struct ChangePassphraseArgs {
    /// CA name
    pub ca: String,
    #[command(flatten)]
    pub pass: PassArgs,
    /// Read the new passphrase from FILE
    #[arg(long, value_name = "FILE", value_hint = clap::ValueHint::FilePath)]
    pub new_passphrase_file: Option<PathBuf>,
    #[command(flatten)]
    pub protect: NewKeyProtection,
}

#[derive(Debug, Args)]
pub struct BootstrapArgs {
    /// Organisation name (O= of the CAs; their CNs are "<org> Root CA" and "<org> Issuing CA")
    #[arg(long, default_value = "certsmith")]
    pub org: String,
    /// Trust-store target for the final bundle
    #[arg(long, default_value = "generic", value_parser = named::<TargetArg>())]
    pub target: String,
    /// Root key type
    #[arg(long, value_name = "KEY", default_value = "ecdsa-p384", value_parser = named::<KeyTypeArg>())]
    pub root_key: Option<String>,
    /// Read the root key's passphrase from FILE (default: --passphrase-file's, for both CAs)
    #[arg(long, value_name = "FILE", value_hint = clap::ValueHint::FilePath)]
    pub root_passphrase_file: Option<PathBuf>,
    /// Key type of the intermediate and the first device
    #[arg(long, value_name = "KEY", default_value = "ecdsa-p256", value_parser = named::<KeyTypeArg>())]
    pub key: Option<String>,
    /// Root validity
    #[arg(long, default_value = "10y")]
    pub root_validity: Option<String>,
    /// Intermediate validity
    #[arg(long, default_value = "5y")]
    pub intermediate_validity: Option<String>,
    /// Name of the intermediate CA
    #[arg(long, default_value = "issuing")]
    pub intermediate_name: String,
    /// Name of the first device certificate
    #[arg(long, default_value = "device-001")]
    pub device: String,
    /// Validity of the first certificate [default: the profile's, 1y]
    #[arg(long)]
    pub device_validity: Option<String>,
    /// Name servers in DOMAIN instead of devices: the intermediate is constrained to it and the first certificate is a server certificate api.DOMAIN
    #[arg(long, value_name = "DOMAIN")]
    pub domain: Option<String>,
    /// Also export the first certificate as PKCS#12, with the password read from FILE
    #[arg(long, value_name = "FILE", value_hint = clap::ValueHint::FilePath)]
    pub p12_passphrase_file: Option<PathBuf>,
    #[command(flatten)]
    pub pass: PassArgs,
    #[command(flatten)]
    pub protect: NewKeyProtection,
    #[command(flatten)]
    pub store: KeyStoreArgs,
    #[command(flatten)]
    pub urls: UrlArgs,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// bash, zsh, fish, elvish or powershell
    #[arg(value_parser = named::<clap_complete::Shell>())]
    pub shell: String,
}

#[derive(Debug, Args)]
pub struct SetCrlArgs {
    /// CA name
    pub ca: String,
    /// nextUpdate of its CRLs, as a length (default: 180d for a root, 7d for an issuing CA)
    #[arg(long, value_name = "LENGTH")]
    pub next_update: Option<String>,
    /// How long after its notAfter a revoked certificate stays on the CRL (default 30d)
    #[arg(long, value_name = "LENGTH")]
    pub prune_after: Option<String>,
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write one page per command (certsmith.1, certsmith-issue.1, …) into DIR; without it, certsmith(1) goes to stdout
    #[arg(long, value_name = "DIR", value_hint = clap::ValueHint::DirPath)]
    pub dir: Option<PathBuf>,
}

/// A flag whose values are those of the `ValueEnum` `E`: clap lists them
/// in `--help` and completions offer them, while the value is kept as typed
/// (a `String`) for the library, which checks it and words the refusal as
/// every certsmith error is worded (one line, and a hint listing the values).
pub fn named<E: clap::ValueEnum + Clone + Send + Sync + 'static>() -> Named<E> {
    Named(std::marker::PhantomData)
}

/// The value parser [`named`] makes.
#[derive(Clone)]
pub struct Named<E>(std::marker::PhantomData<E>);

impl<E: clap::ValueEnum + Clone + Send + Sync + 'static> clap::builder::TypedValueParser
    for Named<E>
{
    type Value = String;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<String, clap::Error> {
        clap::builder::StringValueParser::new().parse_ref(cmd, arg, value)
    }

    fn possible_values(
        &self,
    ) -> Option<Box<dyn Iterator<Item = clap::builder::PossibleValue> + '_>> {
        Some(Box::new(
            E::value_variants()
                .iter()
                .filter_map(clap::ValueEnum::to_possible_value),
        ))
    }
}

/// `--key`, `--root-key` (the library's `KeyType::ALL`).
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum KeyTypeArg {
    #[value(name = "ecdsa-p256")]
    EcdsaP256,
    #[value(name = "ecdsa-p384")]
    EcdsaP384,
    #[value(name = "ed25519")]
    Ed25519,
    #[value(name = "rsa-2048")]
    Rsa2048,
    #[value(name = "rsa-3072")]
    Rsa3072,
    #[value(name = "rsa-4096")]
    Rsa4096,
}

/// `--kdf`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum KdfArg {
    Scrypt,
    Pbkdf2,
}

/// `--key-store`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum KeyStoreArg {
    File,
    Pkcs11,
}

/// `--target` of `bundle`, `verify` and `bootstrap` (the library's `bundle::TARGETS`).
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum TargetArg {
    Generic,
    AwsAlb,
    AwsApigw,
    AwsIot,
    Nginx,
    Envoy,
    Haproxy,
    K8s,
    Istio,
}

/// `export --format`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ExportFormatArg {
    #[value(alias = "pkcs12", alias = "pfx")]
    P12,
    K8sSecret,
    Pem,
}

/// `verify --purpose`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum PurposeArg {
    Client,
    Server,
    Any,
}

/// `revoke --reason` (the library's `revoke::REASONS`).
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ReasonArg {
    Unspecified,
    KeyCompromise,
    CaCompromise,
    AffiliationChanged,
    Superseded,
    CessationOfOperation,
    CertificateHold,
}

#[derive(Debug, Args)]
pub struct CompleteNamesArgs {
    pub kind: NameKind,
}

/// What `__complete-names` lists.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum NameKind {
    Cas,
    Certs,
}

#[derive(Debug, Subcommand)]
pub enum LedgerCommand {
    /// Show the ledger's backend, URL (without password), schema version and counts
    Info,
    /// Copy every row of the ledger into a new, empty ledger, checked before it commits
    Copy(LedgerCopyArgs),
}

#[derive(Debug, Args)]
pub struct LedgerCopyArgs {
    /// Target ledger URL: sqlite:PATH (a file that does not exist yet) or postgres://user@host:port/db (an empty database)
    #[arg(long, value_name = "URL")]
    pub to: String,
}

/// The `E` that the value of a [`named`] flag names, or certsmith's one-line
/// refusal listing the values it takes (kind `input`, exit 2).
pub fn choice<E: clap::ValueEnum>(flag: &str, value: &str) -> certsmith::error::Result<E> {
    E::from_str(value, false).map_err(|_| {
        let names: Vec<String> = E::value_variants()
            .iter()
            .filter_map(|v| v.to_possible_value())
            .map(|p| p.get_name().to_string())
            .collect();
        certsmith::Error::input(format!(
            "unknown {flag} '{}'",
            certsmith::error::shown(value)
        ))
        .hint(format!("use {}", names.join(", ")))
    })
}
