//! README.md's walk-through, run as a newcomer would paste it: its server command, then
//! every shell block of "Walk-through with curl" and "Owner tokens", against a fresh
//! server. Only what differs on a test machine is substituted (the server's and the
//! receiver's ports, the data directory, the binary's path), and every `curl` fails on an
//! HTTP error, so a walk-through that no longer works fails here.

use crate::helpers::{BINARY, Storage, spawn_serve};

const README: &str = include_str!("../../README.md");

/// The ```sh blocks of the README section whose heading is `heading`: up to the next
/// heading of its level or a higher one (lines starting with `#` inside code blocks are
/// comments, not headings).
fn shell_blocks(heading: &str) -> Vec<String> {
    let level = heading.split(' ').next().unwrap().len();
    let mut lines = README.lines().skip_while(|line| *line != heading);
    assert!(lines.next().is_some(), "README has a section {heading:?}");
    let (mut blocks, mut current, mut fence) = (Vec::new(), None::<String>, None::<&str>);
    for line in lines {
        match (fence, &mut current) {
            (None, _) if line.starts_with('#') => {
                let marks = line.split(' ').next().unwrap_or("");
                if marks.chars().all(|c| c == '#') && marks.len() <= level {
                    break;
                }
            }
            (None, _) if line.starts_with("```") => {
                fence = Some(line);
                if line == "```sh" {
                    current = Some(String::new());
                }
            }
            (Some(_), _) if line == "```" => {
                fence = None;
                blocks.extend(current.take());
            }
            (Some(_), Some(block)) => {
                block.push_str(line);
                block.push('\n');
            }
            _ => {}
        }
    }
    blocks
}

async fn the_readme_walk_through_works_pasted_line_by_line() {
    let walk_through = shell_blocks("## Walk-through with curl");
    let tokens = shell_blocks("### Owner tokens");
    assert_eq!(
        walk_through.len(),
        2,
        "the server command, then the walk-through"
    );
    assert_eq!(tokens.len(), 1);
    let serve = walk_through[0]
        .trim()
        .strip_prefix("hookpost serve")
        .expect("the walk-through starts its server with `hookpost serve`");
    let serve_args: Vec<&str> = serve.split_whitespace().collect();

    let storage = Storage::new().await;
    let (server, address, log) = spawn_serve(&storage, &serve_args, &[]).await;
    let receiver_port = {
        let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        free.local_addr().unwrap().port()
    };
    let script = format!("{}\n{}", walk_through[1], tokens[0])
        .replace(
            "hookpost-data/admin-token",
            &format!("{}/admin-token", storage.dir().display()),
        )
        .replace("http://127.0.0.1:8080", &format!("http://{address}"))
        .replace("127.0.0.1:3456", &format!("127.0.0.1:{receiver_port}"))
        .replace("curl -s ", "curl -sS --fail-with-body ")
        .lines()
        .map(|line| match line.strip_prefix("hookpost ") {
            Some(rest) => format!("{BINARY} {rest}"),
            None => line.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n");
    // However the script ends, its background receiver goes too (it holds stdout open).
    let script = format!("trap 'kill $(jobs -p) 2>/dev/null || true' EXIT\n{script}");
    let run = tokio::process::Command::new("bash")
        .args(["-euo", "pipefail", "-c", &script])
        .current_dir(storage.dir())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(std::time::Duration::from_secs(120), run)
        .await
        .expect("the walk-through ends within two minutes")
        .unwrap();
    drop(server);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let server_log = log.await.unwrap().join("\n");
    assert!(
        output.status.success(),
        "the walk-through failed\n--- script\n{script}\n--- stdout\n{stdout}\n--- stderr\n{stderr}\n--- server\n{server_log}"
    );
    // The receiver printed the published issue with its signatures checked.
    let issue = stdout
        .lines()
        .find(|line| line.contains("issues.opened"))
        .unwrap_or_else(|| panic!("the receiver got the issue:\n{stdout}\n{server_log}"));
    assert!(
        issue.contains("sha256 ✔") && !issue.contains('✘'),
        "{issue}"
    );
    // The README's sample of `listen`'s line has the order the receiver prints.
    let checks = issue.split(" hook ").nth(1).unwrap();
    let checks = checks.split_once(' ').unwrap().1;
    assert!(
        README.contains(&format!(" hook 1 {checks}")),
        "the README shows `{checks}` as listen prints it"
    );
    // Nothing the walk-through did needed a warning: its receiver was allowed.
    assert!(!server_log.contains("will be blocked"), "{server_log}");
}

crate::harness::tests!(
    ;
    Shell the_readme_walk_through_works_pasted_line_by_line,
);
