//! The browser client's static assets, compiled into the relay binary so the
//! relay needs no files at run time. The relay serves `index.html` for `/` and
//! for every `/r/<room-id>`; the page reads its room from the path and the
//! per-user settings (`name`, `autojoin`, later the room secret) from the URL
//! fragment, which browsers never send to the server.

/// One file of the client.
#[derive(Debug, Clone, Copy)]
pub struct Asset {
    /// Value for the `Content-Type` header.
    pub content_type: &'static str,
    /// The file's bytes.
    pub body: &'static [u8],
}

/// The page served for `/` and `/r/<room-id>`.
pub const INDEX: Asset = Asset {
    content_type: "text/html; charset=utf-8",
    body: include_bytes!("../assets/index.html"),
};

/// The names of every file [`asset`] serves below `/assets/`, so tools can
/// list what the relay serves (e.g. `conclave verify` compares each with this
/// build's copy). The page itself ([`INDEX`]) is served at `/` and `/r/…`.
pub const ASSET_NAMES: &[&str] = &[
    "app.js",
    "link.js",
    "relay.js",
    "media.js",
    "sdp.js",
    "membership.js",
    "mls-order.js",
    "tracks.js",
    "gaps.js",
    "drops.js",
    "ui.js",
    "hook.js",
    "simulcast.js",
    "speaking.js",
    "chat.js",
    "reconnect.js",
    "prejoin.js",
    "indicator.js",
    "screenshare.js",
    "devices.js",
    "ice.js",
    "tiles.js",
    "style.css",
    "e2ee-worker.js",
    "conclave_wasm.js",
    "conclave_wasm_bg.wasm",
];

/// Static files below `/assets/`, by file name.
pub fn asset(name: &str) -> Option<Asset> {
    let (content_type, body): (&str, &[u8]) = match name {
        // The page's modules (native ES modules, no build step): app.js is
        // the entry that imports the others.
        "app.js" => (
            "text/javascript; charset=utf-8",
            include_bytes!("../assets/app.js"),
        ),
        "link.js" => (
            "text/javascript; charset=utf-8",
            include_bytes!("../assets/link.js"),
        ),
        "relay.js" => (
            "text/javascript; charset=utf-8",
            include_bytes!("../assets/relay.js"),
        ),
        "media.js" => (
            "text/javascript; charset=utf-8",
            include_bytes!("../assets/media.js"),
        ),
        "sdp.js" => (
            "text/javascript; charset=utf-8",
            include_bytes!("../assets/sdp.js"),
        ),
        "membership.js" => (
            "text/javascript; charset=utf-8",
            include_bytes!("../assets/membership.js"),
        ),
        "mls-order.js" => (
            "text/javascript; charset=utf-8",
            include_bytes!("../assets/mls-order.js"),
        ),
        "tracks.js" => (
            "text/javascript; charset=utf-8",
            include_bytes!("../assets/tracks.js"),
        ),
        "gaps.js" => (
            "text/javascript; charset=utf-8",
            include_bytes!("../assets/gaps.js"),
        ),
        "drops.js" => (
            "text/javascript; charset=utf-8",
            include_bytes!("../assets/drops.js"),
        ),
        "ui.js" => (
            "text/javascript; charset=utf-8",
            include_bytes!("../assets/ui.js"),
        ),
        "hook.js" => (
            "text/javascript; charset=utf-8",
            include_bytes!("../assets/hook.js"),
        ),
        "simulcast.js" => (
            "text/javascript; charset=utf-8",
            include_bytes!("../assets/simulcast.js"),
        ),
        "speaking.js" => (
            "text/javascript; charset=utf-8",
            include_bytes!("../assets/speaking.js"),
        ),
        "chat.js" => (
            "text/javascript; charset=utf-8",
            include_bytes!("../assets/chat.js"),
        ),
        "reconnect.js" => (
            "text/javascript; charset=utf-8",
            include_bytes!("../assets/reconnect.js"),
        ),
        "prejoin.js" => (
            "text/javascript; charset=utf-8",
            include_bytes!("../assets/prejoin.js"),
        ),
        "indicator.js" => (
            "text/javascript; charset=utf-8",
            include_bytes!("../assets/indicator.js"),
        ),
        "screenshare.js" => (
            "text/javascript; charset=utf-8",
            include_bytes!("../assets/screenshare.js"),
        ),
        "devices.js" => (
            "text/javascript; charset=utf-8",
            include_bytes!("../assets/devices.js"),
        ),
        "ice.js" => (
            "text/javascript; charset=utf-8",
            include_bytes!("../assets/ice.js"),
        ),
        "tiles.js" => (
            "text/javascript; charset=utf-8",
            include_bytes!("../assets/tiles.js"),
        ),
        "style.css" => (
            "text/css; charset=utf-8",
            include_bytes!("../assets/style.css"),
        ),
        // The media worker: runs RTCRtpScriptTransform (SFrame) in its own
        // instance of the E2EE wasm.
        "e2ee-worker.js" => (
            "text/javascript; charset=utf-8",
            include_bytes!("../assets/e2ee-worker.js"),
        ),
        // conclave-e2ee compiled to wasm32 (crates/wasm), built by
        // scripts/build-wasm.sh; scripts/test.d/wasm-bundle.sh proves the
        // committed bytes come from the source.
        "conclave_wasm.js" => (
            "text/javascript; charset=utf-8",
            include_bytes!("../assets/conclave_wasm.js"),
        ),
        "conclave_wasm_bg.wasm" => (
            "application/wasm",
            include_bytes!("../assets/conclave_wasm_bg.wasm"),
        ),
        _ => return None,
    };
    Some(Asset { content_type, body })
}

#[cfg(test)]
mod tests {
    #[test]
    fn assets_exist() {
        assert!(super::asset("app.js").is_some());
        assert!(super::asset("style.css").is_some());
        assert!(super::asset("e2ee-worker.js").is_some());
        let wasm = super::asset("conclave_wasm_bg.wasm").unwrap();
        assert_eq!(wasm.content_type, "application/wasm");
        assert_eq!(&wasm.body[..4], b"\0asm");
        assert!(super::asset("../Cargo.toml").is_none());
        assert!(!super::INDEX.body.is_empty());
        for name in super::ASSET_NAMES {
            assert!(
                super::asset(name).is_some(),
                "{name} is listed but not served"
            );
        }
    }

    /// A module the page imports but the relay does not serve breaks the
    /// page: every file in assets/ is served (or is the page itself).
    #[test]
    fn every_asset_file_is_served() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets");
        for entry in std::fs::read_dir(dir).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            if name == "index.html" {
                continue;
            }
            assert!(
                super::ASSET_NAMES.contains(&name.as_str()),
                "assets/{name} is not listed in ASSET_NAMES (nor served by asset())"
            );
        }
    }
}
