//! The published payload's body: JSON shaped like a forge's `push` (a repository with its
//! URLs, a pusher, commits with ids, messages and URLs that repeat the id), so that a store
//! that packs payloads meets the redundancy real ones have — not a run of one character,
//! which packs to nothing, nor noise, which does not pack at all. Made once per run from a
//! fixed seed; each event adds its own number and time beside it.

/// Words of commit messages and the padding.
const WORDS: [&str; 24] = [
    "fix", "add", "update", "remove", "refactor", "test", "docs", "bump", "version", "merge",
    "branch", "pull", "request", "into", "main", "feature", "handle", "error", "when", "the",
    "user", "config", "cache", "retry",
];

/// xorshift64: the same "random" ids and words in every run.
struct Sequence(u64);

impl Sequence {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn sha(&mut self) -> String {
        format!(
            "{:016x}{:016x}{:08x}",
            self.next(),
            self.next(),
            self.next() as u32
        )
    }

    fn words(&mut self, count: usize) -> String {
        let words: Vec<&str> = (0..count)
            .map(|_| WORDS[(self.next() % WORDS.len() as u64) as usize])
            .collect();
        words.join(" ")
    }
}

/// A JSON object of exactly `size` bytes (at least 16), forge-shaped as far as it fits.
pub fn forge_like(size: usize) -> String {
    let size = size.max(16);
    let mut random = Sequence(0x9e37_79b9_7f4a_7c15);
    let (owner, repo) = ("acme", "widgets");
    let site = format!("https://forge.example.com/{owner}/{repo}");
    let api = format!("https://api.forge.example.com/repos/{owner}/{repo}");
    let mut text = format!(
        r#"{{"ref":"refs/heads/main","before":"{}","after":"{}","repository":{{"id":{},"name":"{repo}","full_name":"{owner}/{repo}","private":false,"html_url":"{site}","url":"{api}","clone_url":"{site}.git","default_branch":"main","owner":{{"login":"{owner}","id":{},"html_url":"https://forge.example.com/{owner}"}}}},"pusher":{{"name":"octocat","email":"octocat@example.com"}},"sender":{{"login":"octocat","id":{},"avatar_url":"https://avatars.forge.example.com/u/{}?v=4"}},"commits":["#,
        random.sha(),
        random.sha(),
        random.next() % 100_000_000,
        random.next() % 10_000_000,
        random.next() % 10_000_000,
        random.next() % 10_000_000,
    );
    let mut first = true;
    loop {
        let sha = random.sha();
        let commit = format!(
            r#"{}{{"id":"{sha}","message":"{}","timestamp":"2026-12-01T21:30:09Z","url":"{site}/commit/{sha}","author":{{"name":"octocat","email":"octocat@example.com"}},"modified":["src/main.rs"]}}"#,
            if first { "" } else { "," },
            random.words(6),
        );
        // Room kept for the closing `],"note":""}` and a few words.
        if text.len() + commit.len() + 40 > size {
            break;
        }
        text.push_str(&commit);
        first = false;
    }
    text.push_str(r#"],"note":""#);
    if text.len() + 2 > size {
        // Too small for the shape: words only.
        text = String::from(r#"{"note":""#);
    }
    while text.len() + 2 < size {
        let word = random.words(1);
        let room = size - 2 - text.len();
        text.push_str(&format!("{word} ")[..room.min(word.len() + 1)]);
    }
    text.push_str(r#""}"#);
    text
}

#[cfg(test)]
mod tests {
    use super::forge_like;

    #[test]
    fn the_body_is_json_of_the_size_asked() {
        for size in [16, 100, 500, 964, 1024, 4096] {
            let text = forge_like(size);
            assert_eq!(text.len(), size);
            serde_json::from_str::<serde_json::Value>(&text).unwrap();
        }
    }
}
