//! Runs the real `keys` binary.

use std::{
    io::Write as _,
    process::{Command, Output, Stdio},
};

/// Runs `keys args...` with `stdin` on its standard input.
fn keys(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_keys"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start keys");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// Runs `keys args...`, checks that it succeeded silently on stderr, and returns the
/// `(name, value)` pairs of its output lines.
fn keys_ok(args: &[&str], stdin: &str) -> Vec<(String, String)> {
    let out = keys(args, stdin);
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(out.status.success(), "{args:?}: {stderr}");
    assert_eq!(stderr, "", "{args:?}");
    assert!(stdout.ends_with('\n'), "{stdout:?}");
    stdout
        .lines()
        .map(|line| {
            let (name, value) = line.split_once(": ").expect("`name: value` line");
            (name.to_owned(), value.to_owned())
        })
        .collect()
}

fn names(lines: &[(String, String)]) -> Vec<&str> {
    lines.iter().map(|(name, _)| name.as_str()).collect()
}

#[test]
fn validator_generates_a_key_whose_public_part_is_recovered() {
    let generated = keys_ok(&["validator"], "");
    assert_eq!(names(&generated), ["secret", "public", "pop"]);
    assert!(generated[0].1.starts_with("validator:secret:bls12_381:"));
    assert!(generated[1].1.starts_with("validator:public:bls12_381:"));
    assert!(generated[2].1.starts_with("validator:pop:bls12_381:"));

    // `public` recovers the same public key and proof from the secret key, from the command
    // line and from standard input, and never prints the secret.
    let from_arg = keys_ok(&["public", &generated[0].1], "");
    let from_stdin = keys_ok(&["public", "-"], &format!("{}\n", generated[0].1));
    assert_eq!(from_arg, generated[1..]);
    assert_eq!(from_stdin, generated[1..]);

    // Each run makes a new key.
    assert_ne!(keys_ok(&["validator"], "")[0], generated[0]);
}

#[test]
fn node_generates_a_key_whose_public_part_is_recovered() {
    let generated = keys_ok(&["node"], "");
    assert_eq!(names(&generated), ["secret", "public"]);
    assert!(generated[0].1.starts_with("node:secret:ed25519:"));
    assert!(generated[1].1.starts_with("node:public:ed25519:"));

    let from_stdin = keys_ok(&["public", "-"], &format!("  {}\n\n", generated[0].1));
    assert_eq!(from_stdin, generated[1..]);
}

/// Checks that `keys args...` fails with exit code 1, nothing on stdout and `expected` as the
/// single line on stderr.
fn assert_fails(args: &[&str], stdin: &str, expected: &str) {
    let out = keys(args, stdin);
    assert_eq!(out.status.code(), Some(1), "{args:?}");
    assert_eq!(String::from_utf8(out.stdout).unwrap(), "", "{args:?}");
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        format!("error: {expected}\n"),
        "{args:?}"
    );
}

#[test]
fn public_of_a_bad_key_fails_with_a_one_line_error() {
    assert_fails(
        &["public", "-"],
        "foo:00ff\n",
        "invalid secret key: unknown prefix \"foo:\" (expected \
         \"validator:secret:bls12_381:\" or \"node:secret:ed25519:\")",
    );
    assert_fails(
        &["public", "validator:secret:bls12_381:xyz"],
        "",
        "invalid secret key: validator (bls12_381) key: bad hex: Odd number of digits",
    );
    assert_fails(
        &["public", "-"],
        "node:secret:ed25519:00ff",
        "invalid secret key: node (ed25519) key: expected 32 bytes, got 2",
    );
    assert_fails(&["public", "-"], "", "invalid secret key: empty input");
    // A public key is not a secret key.
    let generated = keys_ok(&["node"], "");
    assert_fails(
        &["public", "-"],
        &generated[1].1,
        "invalid secret key: \"node:public:ed25519:\" is not a secret key \
         (a public key or proof of possession?)",
    );
}

#[test]
fn public_rejects_oversized_stdin() {
    assert_fails(
        &["public", "-"],
        &"a".repeat(5000),
        "standard input is longer than 4096 bytes; expected one secret key",
    );
}

#[test]
fn usage_errors_exit_with_code_2() {
    for args in [&[][..], &["public"], &["bogus"], &["node", "extra"]] {
        let out = keys(args, "");
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert_eq!(String::from_utf8(out.stdout).unwrap(), "", "{args:?}");
    }
    let out = keys(&["--help"], "");
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for command in ["validator", "node", "public"] {
        assert!(help.contains(command), "{help}");
    }
}
