//! Relay configuration: command-line flags, environment variables and an
//! optional TOML file, resolved in that order of precedence over embedded
//! defaults. Nothing here is required: `conclave serve` runs as is.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use serde::Deserialize;

use crate::origin::Origin;
use crate::turn::Turn;

/// Default HTTPS (and media) address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8443";

/// Flags of `conclave serve`. Every flag can also be set by the environment
/// variable named in its help, or by the key of the same name (with `_` for
/// `-`) in the `--config` file.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ServeArgs {
    /// TOML file with any of the settings below (keys as the flag names with
    /// `_` for `-`, e.g. `max_rooms = 100`). Flags and environment win over it.
    #[arg(long, env = "CONCLAVE_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// HTTPS address for the page, API and WebSocket signaling [default: 127.0.0.1:8443].
    /// Port 0 picks a free port (printed at start). UDP media uses the same
    /// address and port number unless --media-port says otherwise.
    #[arg(long, env = "CONCLAVE_LISTEN", value_name = "ADDR:PORT")]
    pub listen: Option<SocketAddr>,

    /// UDP port for all WebRTC media [default: the --listen port].
    #[arg(long, env = "CONCLAVE_MEDIA_PORT", value_name = "PORT")]
    pub media_port: Option<u16>,

    /// Address to advertise to browsers for media, for a relay behind 1:1 NAT
    /// or listening on 0.0.0.0 / :: [default: the --listen address].
    #[arg(long, env = "CONCLAVE_PUBLIC_IP", value_name = "IP")]
    pub public_ip: Option<IpAddr>,

    /// TLS certificate chain (PEM). Without --cert/--key a self-signed
    /// certificate is generated at start and its fingerprint printed.
    #[arg(long, env = "CONCLAVE_CERT", value_name = "PEM", requires = "key")]
    pub cert: Option<PathBuf>,

    /// TLS private key (PEM) for --cert.
    #[arg(long, env = "CONCLAVE_KEY", value_name = "PEM", requires = "cert")]
    pub key: Option<PathBuf>,

    /// Most rooms this relay holds at once [default: 1000].
    #[arg(long, env = "CONCLAVE_MAX_ROOMS", value_name = "N")]
    pub max_rooms: Option<usize>,

    /// Most participants in one room [default: 100].
    #[arg(long, env = "CONCLAVE_MAX_PARTICIPANTS", value_name = "N")]
    pub max_participants: Option<usize>,

    /// Largest signaling message accepted, in bytes [default: 65536].
    #[arg(long, env = "CONCLAVE_MAX_MESSAGE_BYTES", value_name = "BYTES")]
    pub max_message_bytes: Option<usize>,

    /// Media threads, each serving a share of the rooms on the one UDP port
    /// [default: the number of CPU cores].
    #[arg(long, env = "CONCLAVE_MEDIA_THREADS", value_name = "N")]
    pub media_threads: Option<usize>,

    /// Seal forwarded media on the relay's own SRTP path (true) or let
    /// str0m write every copy (false) [default: true].
    #[arg(long, env = "CONCLAVE_DIRECT_SEND", value_name = "BOOL", action = clap::ArgAction::Set)]
    pub direct_send: Option<bool>,

    /// Choose each viewer's video layers by its bandwidth estimate
    /// (congestion control; needs direct send). Off, layers follow tile
    /// widths only, and a viewer on a slow link gets the layer its tile
    /// asks for whether it fits or not [default: true].
    #[arg(long, env = "CONCLAVE_CONGESTION_CONTROL", value_name = "BOOL", action = clap::ArgAction::Set)]
    pub congestion_control: Option<bool>,

    /// Also carry media over TCP on the HTTPS port (ICE-TCP), for browsers
    /// on networks that block UDP; they use it only when UDP fails
    /// [default: true].
    #[arg(long, env = "CONCLAVE_ICE_TCP", value_name = "BOOL", action = clap::ArgAction::Set)]
    pub ice_tcp: Option<bool>,

    /// Audit mode, off by default: write exactly what the operator can see
    /// into DIR — every signaling message (signaling.jsonl) and every RTP
    /// packet after SRTP removal (media.pcap) — to check it is only
    /// ciphertext and routing data.
    #[arg(long, env = "CONCLAVE_INSIDER_VIEW", value_name = "DIR")]
    pub insider_view: Option<PathBuf>,

    /// Another web origin whose pages may open signaling WebSockets on this
    /// relay, e.g. `https://meet.example.org` for a site that embeds calls.
    /// Repeat the flag for more (comma-separated in the environment). The
    /// relay's own pages, pages on the user's own machine (`conclave open`:
    /// `http://127.0.0.1:*`, `http://localhost:*`, `http://[::1]:*`) and
    /// native clients are always allowed; any other web site gets 403.
    /// Behind a reverse proxy that does not pass the browser's Host header
    /// on, list the relay's public `https://name` here too.
    #[arg(
        long = "allow-origin",
        env = "CONCLAVE_ALLOW_ORIGIN",
        value_name = "ORIGIN",
        value_delimiter = ','
    )]
    pub allow_origin: Vec<String>,

    /// A TURN server URL handed to browsers, for networks through which
    /// neither UDP nor ICE-TCP reaches this relay (only an HTTP proxy, or
    /// only real TLS on 443), e.g. `turns:turn.example.org:443?transport=tcp`
    /// (RFC 7065: turn: or turns:). Repeat for more (comma-separated in the
    /// environment). Needs --turn-secret-file. Usually not needed: see
    /// deploy/turnserver.conf.
    #[arg(
        long = "turn",
        env = "CONCLAVE_TURN",
        value_name = "URL",
        value_delimiter = ','
    )]
    pub turn: Vec<String>,

    /// File holding the secret this relay shares with the TURN server
    /// (coturn: `use-auth-secret` and `static-auth-secret`); each join gets
    /// credentials made from it. Never logged or shown.
    #[arg(long, env = "CONCLAVE_TURN_SECRET_FILE", value_name = "FILE")]
    pub turn_secret_file: Option<PathBuf>,

    /// How long each join's TURN credentials may start new TURN allocations,
    /// in seconds (60 to 86400; a running call outlives them) [default: 600].
    #[arg(
        long,
        env = "CONCLAVE_TURN_CREDENTIAL_LIFETIME",
        value_name = "SECONDS"
    )]
    pub turn_credential_lifetime: Option<u64>,
}

/// The same settings as read from the `--config` TOML file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<SocketAddr>,
    media_port: Option<u16>,
    public_ip: Option<IpAddr>,
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
    max_rooms: Option<usize>,
    max_participants: Option<usize>,
    max_message_bytes: Option<usize>,
    media_threads: Option<usize>,
    direct_send: Option<bool>,
    congestion_control: Option<bool>,
    ice_tcp: Option<bool>,
    insider_view: Option<PathBuf>,
    allow_origin: Option<Vec<String>>,
    turn: Option<Vec<String>>,
    turn_secret_file: Option<PathBuf>,
    turn_credential_lifetime: Option<u64>,
}

/// Fully resolved relay settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// HTTPS listen address.
    pub listen: SocketAddr,
    /// UDP media port; `None` means "same as the HTTPS port".
    pub media_port: Option<u16>,
    /// Address advertised in ICE candidates.
    pub public_ip: Option<IpAddr>,
    /// Certificate and key files, or `None` for a generated self-signed pair.
    pub tls_files: Option<(PathBuf, PathBuf)>,
    /// Room limit.
    pub max_rooms: usize,
    /// Participants-per-room limit.
    pub max_participants: usize,
    /// Signaling message size limit in bytes.
    pub max_message_bytes: usize,
    /// Media threads (shards of rooms).
    pub media_threads: usize,
    /// Forwarded copies sealed by the relay itself (`crate::srtp`).
    pub direct_send: bool,
    /// Layers chosen by each viewer's bandwidth estimate (`crate::bwe`).
    pub congestion_control: bool,
    /// Media over TCP on the HTTPS port as well (`crate::tcp_media`).
    pub ice_tcp: bool,
    /// Where `--insider-view` writes, if on.
    pub insider_view: Option<PathBuf>,
    /// Web origins allowed to open signaling WebSockets besides the relay's
    /// own and loopback pages (`crate::origin`).
    pub allow_origins: Vec<Origin>,
    /// TURN servers handed to browsers with per-join credentials (`crate::turn`).
    pub turn: Option<Turn>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: DEFAULT_LISTEN.parse().expect("valid default address"),
            media_port: None,
            public_ip: None,
            tls_files: None,
            max_rooms: 1000,
            max_participants: 100,
            max_message_bytes: 64 * 1024,
            media_threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            direct_send: true,
            congestion_control: true,
            ice_tcp: true,
            insider_view: None,
            allow_origins: Vec::new(),
            turn: None,
        }
    }
}

impl Config {
    /// Merges flags/environment (already merged by clap) over the file over defaults.
    pub fn resolve(args: &ServeArgs) -> anyhow::Result<Config> {
        let file = match &args.config {
            Some(path) => read_file(path)?,
            None => FileConfig::default(),
        };
        let d = Config::default();
        let cert = args.cert.clone().or(file.cert);
        let key = args.key.clone().or(file.key);
        let tls_files = match (cert, key) {
            (Some(c), Some(k)) => Some((c, k)),
            (None, None) => None,
            _ => bail!("give both a certificate and a key (--cert and --key), or neither to use a self-signed certificate"),
        };
        let cfg = Config {
            listen: args.listen.or(file.listen).unwrap_or(d.listen),
            media_port: args.media_port.or(file.media_port),
            public_ip: args.public_ip.or(file.public_ip),
            tls_files,
            max_rooms: args.max_rooms.or(file.max_rooms).unwrap_or(d.max_rooms),
            max_participants: args
                .max_participants
                .or(file.max_participants)
                .unwrap_or(d.max_participants),
            max_message_bytes: args
                .max_message_bytes
                .or(file.max_message_bytes)
                .unwrap_or(d.max_message_bytes),
            media_threads: args
                .media_threads
                .or(file.media_threads)
                .unwrap_or(d.media_threads),
            direct_send: args
                .direct_send
                .or(file.direct_send)
                .unwrap_or(d.direct_send),
            congestion_control: args
                .congestion_control
                .or(file.congestion_control)
                .unwrap_or(d.congestion_control),
            ice_tcp: args.ice_tcp.or(file.ice_tcp).unwrap_or(d.ice_tcp),
            insider_view: args.insider_view.clone().or(file.insider_view),
            allow_origins: if args.allow_origin.is_empty() {
                parse_origins(&file.allow_origin.unwrap_or_default())?
            } else {
                parse_origins(&args.allow_origin)?
            },
            turn: Turn::from_settings(
                if args.turn.is_empty() {
                    file.turn.as_deref().unwrap_or_default()
                } else {
                    &args.turn
                },
                args.turn_secret_file
                    .as_deref()
                    .or(file.turn_secret_file.as_deref()),
                args.turn_credential_lifetime
                    .or(file.turn_credential_lifetime),
            )?,
        };
        cfg.validate()?;
        Ok(cfg)
    }

    fn validate(&self) -> anyhow::Result<()> {
        if self.max_rooms == 0 || self.max_participants == 0 || self.media_threads == 0 {
            bail!("max_rooms, max_participants and media_threads must be at least 1");
        }
        if self.max_message_bytes < 1024 {
            bail!("max_message_bytes must be at least 1024 (SDP offers are a few kilobytes)");
        }
        if self.listen.ip().is_unspecified() && self.public_ip.is_none() {
            bail!(
                "listening on {} (all interfaces): also pass --public-ip with the address browsers reach this relay at",
                self.listen.ip()
            );
        }
        Ok(())
    }

    /// The address browsers send media to.
    pub fn advertised_ip(&self) -> IpAddr {
        self.public_ip.unwrap_or(self.listen.ip())
    }
}

/// Parses `--allow-origin` values; a trailing `/` is forgiven (copied from
/// an address bar), anything else beyond `scheme://host[:port]` is not.
fn parse_origins(values: &[String]) -> anyhow::Result<Vec<Origin>> {
    values
        .iter()
        .map(|v| v.trim())
        .filter(|v| !v.is_empty())
        .map(|v| {
            Origin::parse(v.strip_suffix('/').unwrap_or(v)).with_context(|| {
                format!(
                    "allow_origin {v:?} is not a web origin: write scheme://host[:port], \
                     e.g. https://meet.example.org"
                )
            })
        })
        .collect()
}

fn read_file(path: &Path) -> anyhow::Result<FileConfig> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read config file {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("config file {} is not valid", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_need_nothing() {
        let cfg = Config::resolve(&ServeArgs::default()).unwrap();
        assert_eq!(cfg.listen.to_string(), DEFAULT_LISTEN);
        assert_eq!(cfg.max_participants, 100);
    }

    #[test]
    fn flags_win_over_file() {
        let dir = std::env::temp_dir().join(format!("conclave-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("c.toml");
        std::fs::write(&path, "max_rooms = 7\nmax_participants = 3\n").unwrap();
        let args = ServeArgs {
            config: Some(path.clone()),
            max_participants: Some(5),
            ..Default::default()
        };
        let cfg = Config::resolve(&args).unwrap();
        assert_eq!(cfg.max_rooms, 7);
        assert_eq!(cfg.max_participants, 5);

        std::fs::write(&path, "max_romos = 7\n").unwrap();
        let err = Config::resolve(&args).unwrap_err();
        assert!(format!("{err:#}").contains("unknown field"), "{err:#}");
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn example_config_in_deploy_is_valid() {
        let file: FileConfig =
            toml::from_str(include_str!("../../../deploy/conclave.example.toml")).unwrap();
        assert!(file.public_ip.is_some() && file.cert.is_some());
        parse_origins(&file.allow_origin.unwrap_or_default()).unwrap();
    }

    #[test]
    fn allowed_origins_come_from_flags_or_file() {
        let dir = std::env::temp_dir().join(format!("conclave-origins-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("c.toml");
        std::fs::write(&path, "allow_origin = [\"https://a.example\"]\n").unwrap();
        let mut args = ServeArgs {
            config: Some(path.clone()),
            ..Default::default()
        };
        let cfg = Config::resolve(&args).unwrap();
        assert_eq!(
            cfg.allow_origins,
            [Origin::parse("https://a.example").unwrap()]
        );

        args.allow_origin = vec![
            "https://B.example:443/".into(),
            "http://c.example:8080".into(),
        ];
        let cfg = Config::resolve(&args).unwrap();
        assert_eq!(
            cfg.allow_origins,
            [
                Origin::parse("https://b.example").unwrap(),
                Origin::parse("http://c.example:8080").unwrap()
            ]
        );

        args.allow_origin = vec!["https://b.example/path".into()];
        let err = Config::resolve(&args).unwrap_err();
        assert!(format!("{err:#}").contains("not a web origin"), "{err:#}");
        std::fs::remove_dir_all(&dir).ok();
    }

    /// The example's TURN keys (commented out there) are valid keys with
    /// valid values.
    #[test]
    fn example_turn_settings_are_valid() {
        let example = include_str!("../../../deploy/conclave.example.toml");
        let uncommented: String = example
            .lines()
            .map(|l| match l.strip_prefix("# turn") {
                Some(rest) => format!("turn{rest}\n"),
                None => format!("{l}\n"),
            })
            .collect();
        let file: FileConfig = toml::from_str(&uncommented).unwrap();
        let urls = file.turn.expect("the example shows turn URLs");
        assert!(!urls.is_empty());
        for url in &urls {
            crate::turn::TurnUrl::parse(url).unwrap();
        }
        assert!(file.turn_secret_file.is_some());
        assert!(file.turn_credential_lifetime.is_some());
    }

    #[test]
    fn turn_settings_come_from_flags_or_file() {
        let dir = std::env::temp_dir().join(format!("conclave-turn-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let secret = dir.join("turn-secret");
        std::fs::write(&secret, "s3cret-value\n").unwrap();
        let path = dir.join("c.toml");
        std::fs::write(
            &path,
            format!(
                "turn = [\"turns:turn.example.org:443?transport=tcp\"]\nturn_secret_file = {:?}\nturn_credential_lifetime = 300\n",
                secret.display().to_string()
            ),
        )
        .unwrap();
        let mut args = ServeArgs {
            config: Some(path.clone()),
            ..Default::default()
        };
        let cfg = Config::resolve(&args).unwrap();
        let turn = cfg.turn.as_ref().expect("TURN from the file");
        assert_eq!(
            turn.urls()[0].as_str(),
            "turns:turn.example.org:443?transport=tcp"
        );
        assert_eq!(turn.lifetime().as_secs(), 300);
        // Neither the config nor its Debug output shows the secret.
        assert!(!format!("{cfg:?}").contains("s3cret"), "{cfg:?}");

        args.turn = vec![
            "turn:192.0.2.1:3478?transport=tcp".into(),
            "turn:192.0.2.1:3478".into(),
        ];
        let cfg = Config::resolve(&args).unwrap();
        assert_eq!(cfg.turn.as_ref().unwrap().urls().len(), 2);

        args.turn = vec!["turn:192.0.2.1:3478?transport=quic".into()];
        let err = Config::resolve(&args).unwrap_err();
        assert!(
            format!("{err:#}").contains("?transport=udp or ?transport=tcp"),
            "{err:#}"
        );

        std::fs::write(&secret, "").unwrap();
        args.turn.clear();
        let err = Config::resolve(&args).unwrap_err();
        assert!(format!("{err:#}").contains("is empty"), "{err:#}");
        std::fs::remove_dir_all(&dir).ok();

        assert!(Config::resolve(&ServeArgs::default())
            .unwrap()
            .turn
            .is_none());
    }

    #[test]
    fn unspecified_listen_needs_public_ip() {
        let args = ServeArgs {
            listen: Some("0.0.0.0:8443".parse().unwrap()),
            ..Default::default()
        };
        let err = Config::resolve(&args).unwrap_err();
        assert!(err.to_string().contains("--public-ip"));
    }
}
