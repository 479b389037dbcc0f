//! `sluice login | login status | login env | logout`: a person signs in to a gateway through
//! its identity provider, and the credential the gateway issues is kept for every later
//! admin command (see [`credentials`]).
//!
//! # Layout
//! - [`credentials`]: the credential file.
//! - [`api`]: the login endpoints' wire types.
//! - [`device`], [`pkce`]: the two sign-in flows.
//! - [`session`]: `login status` and `logout`.
//! - [`env`]: `login env`'s rendering.

pub mod api;
pub mod credentials;
pub mod device;
pub mod env;
pub mod pkce;
pub mod session;

use std::time::Duration;

use anyhow::{bail, Context, Result};

use self::api::{LoginInfo, PkceFinishRequest, PkceStart, PkceStartRequest, Provider};
use self::credentials::{server_key, Credential, CredentialFile};
use crate::admin_client::{parse_duration, Gateway};
use crate::cli::{LoginArgs, LoginCommand, LoginFlow, ServerArg};

pub use self::session::logout;

pub async fn run(args: LoginArgs) -> Result<()> {
    match args.command {
        None => login(&args).await,
        Some(command) => {
            if args.provider.is_some() || args.flow.is_some() || args.no_browser {
                bail!("--provider, --flow and --no-browser belong to `sluice login` itself");
            }
            match command {
                LoginCommand::Status { json } => session::status(&args.connection, json).await,
                LoginCommand::Env {
                    target,
                    shell,
                    protocol,
                } => print_env(&args.connection, target.as_deref(), shell, protocol).await,
            }
        }
    }
}

/// The gateway a login command means: `--server`/`SLUICE_SERVER`, else the file's default.
pub fn server_for(connection: &ServerArg, file: &CredentialFile) -> Result<String> {
    if let Some(server) = connection
        .server
        .as_deref()
        .filter(|s| !s.trim().is_empty())
    {
        return Ok(server_key(server));
    }
    file.load()?.default.context(
        "no gateway given: pass --server URL or set SLUICE_SERVER (no sign-in is stored yet)",
    )
}

pub fn gateway_for(connection: &ServerArg, server: &str) -> Result<Gateway> {
    Gateway::connect(server, connection.ca.as_deref())
}

async fn login(args: &LoginArgs) -> Result<()> {
    let file = CredentialFile::locate()?;
    let server = server_for(&args.connection, &file)?;
    let gateway = gateway_for(&args.connection, &server)?;
    let timeout = parse_duration(&args.timeout, "--timeout")?;
    let info: LoginInfo = gateway.get_public(api::LOGIN).await?;
    let provider = choose_provider(&info.providers, args.provider.as_deref())?;
    let flow = choose_flow(provider, args.flow, has_display())?;
    let mut credential = match flow {
        LoginFlow::Device => device::login(&gateway, Some(&provider.name), timeout).await?,
        LoginFlow::Pkce => {
            let open_browser = !args.no_browser && has_display();
            pkce_login(&gateway, &provider.name, timeout, open_browser).await?
        }
    };
    credential.provider = Some(provider.name.clone());
    let summary = describe(&credential);
    file.update(|c| c.insert(&server, credential))?;
    eprintln!(
        "signed in to {server} as {summary}; the credential is in {}",
        file.path().display()
    );
    Ok(())
}

fn choose_provider<'a>(providers: &'a [Provider], wanted: Option<&str>) -> Result<&'a Provider> {
    let names = || {
        providers
            .iter()
            .map(|p| p.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    match (wanted, providers) {
        (_, []) => bail!("the gateway offers no identity provider to sign in with"),
        (Some(name), _) => providers
            .iter()
            .find(|p| p.name == name)
            .with_context(|| format!("the gateway has no provider {name:?}; it has {}", names())),
        (None, [only]) => Ok(only),
        (None, _) => bail!(
            "the gateway has several providers: pick one with --provider ({})",
            names()
        ),
    }
}

/// The asked flow if the provider has it; else the browser flow where a browser can open
/// here, the device flow otherwise, falling back to whichever the provider has.
fn choose_flow(provider: &Provider, wanted: Option<LoginFlow>, display: bool) -> Result<LoginFlow> {
    let name = |f: LoginFlow| match f {
        LoginFlow::Device => "device",
        LoginFlow::Pkce => "pkce",
    };
    // A gateway that lists no flows is taken to offer both.
    let has = |f: LoginFlow| provider.flows.is_empty() || provider.supports(name(f));
    if let Some(flow) = wanted {
        if !has(flow) {
            bail!(
                "provider {} does not offer the {} flow (it offers {})",
                provider.name,
                name(flow),
                provider.flows.join(", ")
            );
        }
        return Ok(flow);
    }
    let preferred = if display {
        LoginFlow::Pkce
    } else {
        LoginFlow::Device
    };
    let other = match preferred {
        LoginFlow::Pkce => LoginFlow::Device,
        LoginFlow::Device => LoginFlow::Pkce,
    };
    [preferred, other]
        .into_iter()
        .find(|f| has(*f))
        .with_context(|| format!("provider {} offers no flow this CLI knows", provider.name))
}

fn has_display() -> bool {
    ["DISPLAY", "WAYLAND_DISPLAY"]
        .iter()
        .any(|v| std::env::var_os(v).is_some_and(|d| !d.is_empty()))
}

async fn pkce_login(
    gateway: &Gateway,
    provider: &str,
    timeout: Duration,
    open_browser: bool,
) -> Result<Credential> {
    let (listener, port) = pkce::bind().await?;
    let redirect_uri = pkce::redirect_uri(port);
    let verifier = pkce::new_verifier();
    let challenge = pkce::challenge(&verifier);
    let start: PkceStart = gateway
        .post_public(
            api::PKCE_START,
            &PkceStartRequest {
                provider: Some(provider),
                redirect_uri: &redirect_uri,
                code_challenge: &challenge,
                code_challenge_method: "S256",
            },
        )
        .await?
        .success(api::PKCE_START)?;
    // Its own line with a fixed prefix: tests (and people) take the URL from here.
    eprintln!("Open: {}", start.authorization_url);
    if open_browser {
        open_in_browser(&start.authorization_url);
    }
    let code = pkce::wait_for_code(&listener, &start.state, timeout).await?;
    drop(listener);
    gateway
        .post_public(
            api::PKCE_FINISH,
            &PkceFinishRequest {
                login_id: &start.login_id,
                code: code.expose(),
                state: &start.state,
                code_verifier: verifier.expose(),
            },
        )
        .await?
        .success(api::PKCE_FINISH)
}

/// A convenience: the URL is printed anyway, so any failure here is ignored.
fn open_in_browser(url: &str) {
    let _ = tokio::process::Command::new("xdg-open")
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
}

/// `alice@corp.example (human; groups developers) until 2026-12-04T06:00:00Z`.
pub fn describe(c: &Credential) -> String {
    let groups = if c.groups.is_empty() {
        String::new()
    } else {
        format!("; groups {}", c.groups.join(", "))
    };
    let until = match c.expires_at {
        Some(at) => format!(" until {}", unix_rfc3339(at)),
        None => String::new(),
    };
    crate::admin_client::printable(
        &format!("{} ({}{groups}){until}", c.identity, c.kind),
        false,
    )
}

pub fn unix_rfc3339(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| unix.to_string())
}

async fn print_env(
    connection: &ServerArg,
    target: Option<&str>,
    shell: crate::cli::EnvShell,
    only: Option<crate::cli::EnvProtocol>,
) -> Result<()> {
    let file = CredentialFile::locate()?;
    let server = server_for(connection, &file)?;
    let credentials = file.load()?;
    let credential = credentials.usable(&server)?;
    let gateway = gateway_for(connection, &server)?;
    let info: LoginInfo = gateway.get_public(api::LOGIN).await?;
    let out = env::render(
        shell,
        &env::EnvContext {
            host: gateway.host(),
            listeners: &info.listeners,
            identity: &credential.identity,
            token: &credential.token,
            target,
            only,
        },
    )?;
    print!("{out}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn provider(flows: &[&str]) -> Provider {
        Provider {
            name: "corp".into(),
            issuer: String::new(),
            flows: flows.iter().map(|f| (*f).to_owned()).collect(),
        }
    }

    #[test]
    fn the_flow_follows_the_display_and_what_the_provider_offers() {
        let both = provider(&["device", "pkce"]);
        assert_eq!(choose_flow(&both, None, true).unwrap(), LoginFlow::Pkce);
        assert_eq!(choose_flow(&both, None, false).unwrap(), LoginFlow::Device);
        assert_eq!(
            choose_flow(&both, Some(LoginFlow::Device), true).unwrap(),
            LoginFlow::Device
        );
        let device = provider(&["device"]);
        assert_eq!(choose_flow(&device, None, true).unwrap(), LoginFlow::Device);
        assert!(choose_flow(&device, Some(LoginFlow::Pkce), true).is_err());
    }

    #[test]
    fn the_provider_is_named_or_the_only_one() {
        let one = [provider(&[])];
        assert_eq!(choose_provider(&one, None).unwrap().name, "corp");
        assert!(choose_provider(&one, Some("other")).is_err());
        let mut two = provider(&[]);
        two.name = "partner".into();
        let both = [provider(&[]), two];
        let e = choose_provider(&both, None).unwrap_err().to_string();
        assert!(e.contains("--provider") && e.contains("partner"), "{e}");
        assert_eq!(
            choose_provider(&both, Some("partner")).unwrap().name,
            "partner"
        );
        assert!(choose_provider(&[], None).is_err());
    }
}
