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
pub struct GlobalArgs {
    /// PKI directory
    #[arg(long, global = true, env = "CERTSMITH_PKI", default_value = "pki", value_hint = clap::ValueHint::DirPath)]
    pub pki: PathBuf,
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
    /// Show the ledger, or copy it to another backend (SQLite, PostgreSQL)
    #[command(subcommand)]
    Ledger(LedgerCommand),
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
    #[arg(long, value_name = "STORE", default_value = "file", value_parser = ["file", "pkcs11"])]
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
    /// Key derivation for the encrypted key: scrypt (default) or pbkdf2
    #[arg(long, value_name = "KDF", default_value = "scrypt")]
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
    /// Key type: ecdsa-p256, ecdsa-p384, ed25519, rsa-2048, rsa-3072, rsa-4096
    #[arg(long)]
    pub key: Option<String>,
    /// Validity: 90d, 12h, 5y or an RFC 3339 end time
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
    /// Key type (default from the profile, ecdsa-p256)
    #[arg(long)]
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
    /// Key type for every certificate
    #[arg(long)]
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
    #[arg(long, value_enum, default_value = "pem")]
    pub format: BatchFormat,
    /// Read the password of every device's PKCS#12 file from FILE (--format p12)
    #[arg(long, value_name = "FILE", value_hint = clap::ValueHint::FilePath)]
    pub p12_passphrase_file: Option<PathBuf>,
    /// Sign every *.csr / *.pem file in DIR (keys made on the devices) instead of making keys
    #[arg(long, value_name = "DIR", conflicts_with_all = ["manifest", "count"], value_hint = clap::ValueHint::DirPath)]
    pub csr_dir: Option<PathBuf>,
    /// How --csr-dir names each certificate: file (the file name without extension) or cn (the CSR's CN)
    #[arg(long, value_enum, default_value = "file", requires = "csr_dir")]
    pub name_from: NameFromArg,
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
    /// unspecified, key-compromise, ca-compromise, affiliation-changed, superseded, cessation-of-operation, certificate-hold
    #[arg(long, default_value = "unspecified")]
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
    #[command(flatten)]
    pub pass: PassArgs,
}

#[derive(Debug, Args)]
pub struct BundleArgs {
    /// generic, aws-alb, aws-apigw, aws-iot, nginx, envoy, haproxy, k8s, istio
    #[arg(long, default_value = "generic")]
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
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Certificate to check (PEM or DER; extra PEM certificates are taken as the chain)
    #[arg(value_hint = clap::ValueHint::FilePath)]
    pub cert: PathBuf,
    /// Trust anchors from a PEM bundle
    #[arg(long, conflicts_with = "ca", value_hint = clap::ValueHint::FilePath)]
    pub bundle: Option<PathBuf>,
    /// Trust the root above CA NAME of this PKI
    #[arg(long)]
    pub ca: Option<String>,
    /// Intermediate certificates (PEM)
    #[arg(long, value_hint = clap::ValueHint::FilePath)]
    pub chain: Option<PathBuf>,
    /// client, server or any
    #[arg(long, default_value = "any")]
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
    #[arg(long)]
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
    /// Only certificates expiring within this length, e.g. 30d
    #[arg(long, value_name = "LENGTH")]
    pub expiring_within: Option<String>,
    /// Only revoked certificates
    #[arg(long)]
    pub revoked: bool,
    /// Include superseded certificates and CAs
    #[arg(long)]
    pub all: bool,
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
    /// Certificate name
    pub name: String,
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
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Certificate name
    pub name: String,
    /// p12, k8s-secret or pem
    #[arg(long, default_value = "p12")]
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
    /// Organisation name (O= of the CAs)
    #[arg(long)]
    pub org: Option<String>,
    /// Trust-store target for the final bundle
    #[arg(long, default_value = "generic")]
    pub target: String,
    /// Root key type
    #[arg(long)]
    pub root_key: Option<String>,
    /// Key type of the intermediate and the first device
    #[arg(long)]
    pub key: Option<String>,
    /// Root validity
    #[arg(long)]
    pub root_validity: Option<String>,
    /// Intermediate validity
    #[arg(long)]
    pub intermediate_validity: Option<String>,
    /// Name of the intermediate CA
    #[arg(long, default_value = "issuing")]
    pub intermediate_name: String,
    /// Name of the first device certificate
    #[arg(long, default_value = "device-001")]
    pub device: String,
    /// Validity of the first certificate (default: the profile's, 1y)
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
    pub shell: clap_complete::Shell,
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
