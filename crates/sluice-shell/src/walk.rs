//! Walks the syntax tree of a line and lists the simple commands it would run, looking into
//! every place a command can hide: lists, pipelines, compound commands, functions,
//! substitutions, redirections and the strings given to `sh -c`.

use std::collections::BTreeSet;
use std::rc::Rc;

use brush_parser::ast::{
    self, AndOr, Command, CommandPrefixOrSuffixItem, CompoundCommand, CompoundList,
    ExtendedTestExpr, IoFileRedirectTarget, IoRedirect,
};
use brush_parser::ParserOptions;
use sluice_decision::SimpleCommand;

use crate::limits;
use crate::parse::{self, Refused};
use crate::programs::{self, Code};
use crate::unresolved::Unresolved;
use crate::words::{self, Word};
use crate::wrappers::{self, Wrapped};

/// Where a command stands: what runs it and how deep in `sh -c` strings it is.
#[derive(Clone, Default)]
struct Scope {
    wrappers: Vec<String>,
    shell_depth: u32,
    /// In the line itself rather than in a substitution: its first command gives `argv`.
    top: bool,
    /// The names of the commands before it in a pipeline, when its input is a pipe.
    piped: Option<Rc<Vec<String>>>,
}

/// What feeds one simple command besides its words.
#[derive(Default)]
struct Inputs {
    /// Names of the commands in its substitutions and process substitutions.
    substituted: Vec<String>,
    /// The text of a here-document or here-string on its standard input, when it is known
    /// without running anything.
    stdin_text: Option<String>,
    /// Its standard input is redirected from somewhere else than the line (a file or a
    /// process substitution).
    stdin_redirected: bool,
}

#[derive(Default)]
pub struct Analysis {
    pub commands: Vec<SimpleCommand>,
    pub programs: Vec<String>,
    pub argv: Option<Vec<String>>,
    pub unresolved: BTreeSet<Unresolved>,
    /// Functions in order of definition; `None` once their body has been listed, so that
    /// each body is listed once however often (or recursively) it is called.
    functions: Vec<(String, Option<Function>)>,
    /// How many scripts (substitutions, `sh -c` strings) are being walked inside each other.
    nesting: u32,
    /// The scripts being walked, innermost last: words are read from their source text.
    sources: Vec<Rc<Source>>,
    options: ParserOptions,
}

impl Analysis {
    /// Walks a whole line; an error when it is not parsed.
    pub fn line(&mut self, text: &str) -> Result<(), Refused> {
        let scope = Scope {
            top: true,
            ..Scope::default()
        };
        self.script(text, &scope)?;
        // A function defined but not called here may still be called by what the line
        // cannot see (an `eval`, a trap, an exported function); its commands are listed
        // rather than missed.
        while let Some(body) = self.functions.iter_mut().find_map(|(_, b)| b.take()) {
            self.function_body(&body, &Scope::default());
        }
        Ok(())
    }

    /// Parses and walks a script.
    fn script(&mut self, text: &str, scope: &Scope) -> Result<(), Refused> {
        if self.nesting >= limits::MAX_NESTING {
            return Err(Refused::TooDeep);
        }
        let program = parse::program(text, &self.options)?;
        self.nesting += 1;
        self.sources.push(Rc::new(Source::new(text)));
        for list in &program.complete_commands {
            self.list(list, scope);
        }
        self.sources.pop();
        self.nesting -= 1;
        Ok(())
    }

    /// Walks a script inside the line; what is not parsed is flagged.
    fn inner_script(&mut self, text: &str, scope: &Scope) {
        match self.script(text, scope) {
            Ok(()) => {}
            Err(Refused::Invalid) => self.flag(Unresolved::UnparsedInner),
            Err(Refused::TooDeep) => self.flag(Unresolved::TooDeep),
        }
    }

    /// A word as written in the source. The parser rebuilds some words from their tokens
    /// and drops the spaces (`$( (rm -rf /) )` becomes `$((rm-rf/))`, an arithmetic
    /// expansion), so the source text is read wherever the word's location is known.
    fn raw(&self, w: &ast::Word) -> String {
        w.loc
            .as_ref()
            .and_then(|loc| self.sources.last()?.slice(loc))
            .map_or_else(|| w.value.clone(), str::to_owned)
    }

    fn flag(&mut self, u: Unresolved) {
        self.unresolved.insert(u);
    }

    fn list(&mut self, list: &CompoundList, scope: &Scope) {
        for item in &list.0 {
            self.pipeline(&item.0.first, scope);
            for next in &item.0.additional {
                let (AndOr::And(p) | AndOr::Or(p)) = next;
                self.pipeline(p, scope);
            }
        }
    }

    fn pipeline(&mut self, p: &ast::Pipeline, scope: &Scope) {
        let mut upstream: Vec<String> = Vec::new();
        for (i, command) in p.seq.iter().enumerate() {
            let start = self.commands.len();
            if i == 0 {
                self.command(command, scope);
            } else {
                let piped = Scope {
                    piped: Some(Rc::new(upstream.clone())),
                    ..scope.clone()
                };
                self.command(command, &piped);
            }
            upstream.extend(self.names_since(start));
        }
    }

    fn names_since(&self, start: usize) -> Vec<String> {
        self.commands
            .get(start..)
            .unwrap_or_default()
            .iter()
            .map(|c| c.name.clone())
            .collect()
    }

    fn command(&mut self, command: &Command, scope: &Scope) {
        match command {
            Command::Simple(simple) => self.simple(simple, scope),
            Command::Compound(compound, redirects) => {
                let mut inputs = Inputs::default();
                for r in redirects.iter().flat_map(|r| &r.0) {
                    self.redirect(r, scope, &mut inputs);
                }
                self.compound(compound, scope);
            }
            Command::Function(definition) => {
                let name = definition.fname.value.clone();
                let function = self.sources.last().map(|source| Function {
                    body: definition.body.clone(),
                    source: Rc::clone(source),
                });
                match self.functions.iter_mut().find(|(n, _)| *n == name) {
                    Some((_, body)) => *body = function,
                    None => self.functions.push((name, function)),
                }
            }
            Command::ExtendedTest(test, redirects) => {
                let mut inputs = Inputs::default();
                for r in redirects.iter().flat_map(|r| &r.0) {
                    self.redirect(r, scope, &mut inputs);
                }
                self.test(&test.expr, scope);
            }
        }
    }

    fn test(&mut self, expr: &ExtendedTestExpr, scope: &Scope) {
        let mut sink = Vec::new();
        match expr {
            ExtendedTestExpr::And(a, b) | ExtendedTestExpr::Or(a, b) => {
                self.test(a, scope);
                self.test(b, scope);
            }
            ExtendedTestExpr::Not(a) | ExtendedTestExpr::Parenthesized(a) => self.test(a, scope),
            ExtendedTestExpr::UnaryTest(_, w) => {
                let w = self.raw(w);
                self.word(&w, scope, &mut sink);
            }
            ExtendedTestExpr::BinaryTest(_, a, b) => {
                let (a, b) = (self.raw(a), self.raw(b));
                self.word(&a, scope, &mut sink);
                self.word(&b, scope, &mut sink);
            }
        }
    }

    fn function_body(&mut self, function: &Function, scope: &Scope) {
        self.sources.push(Rc::clone(&function.source));
        let mut inputs = Inputs::default();
        for r in function.body.1.iter().flat_map(|r| &r.0) {
            self.redirect(r, scope, &mut inputs);
        }
        self.compound(&function.body.0, scope);
        self.sources.pop();
    }

    fn compound(&mut self, compound: &CompoundCommand, scope: &Scope) {
        let mut sink = Vec::new();
        match compound {
            CompoundCommand::Arithmetic(a) => {
                self.arithmetic(&a.expr.value, scope);
                self.spaced_parentheses(&a.loc, scope);
            }
            CompoundCommand::ArithmeticForClause(f) => {
                for e in [&f.initializer, &f.condition, &f.updater]
                    .into_iter()
                    .flatten()
                {
                    self.arithmetic(&e.value, scope);
                }
                self.list(&f.body.list, scope);
            }
            CompoundCommand::BraceGroup(g) => self.list(&g.list, scope),
            CompoundCommand::Subshell(s) => self.list(&s.list, scope),
            CompoundCommand::ForClause(f) => {
                for w in f.values.iter().flatten() {
                    let w = self.raw(w);
                    self.word(&w, scope, &mut sink);
                }
                self.list(&f.body.list, scope);
            }
            CompoundCommand::CaseClause(c) => {
                let value = self.raw(&c.value);
                self.word(&value, scope, &mut sink);
                for item in &c.cases {
                    for p in &item.patterns {
                        let p = self.raw(p);
                        self.word(&p, scope, &mut sink);
                    }
                    if let Some(list) = &item.cmd {
                        self.list(list, scope);
                    }
                }
            }
            CompoundCommand::IfClause(i) => {
                self.list(&i.condition, scope);
                self.list(&i.then, scope);
                for e in i.elses.iter().flatten() {
                    if let Some(c) = &e.condition {
                        self.list(c, scope);
                    }
                    self.list(&e.body, scope);
                }
            }
            CompoundCommand::WhileClause(w) | CompoundCommand::UntilClause(w) => {
                self.list(&w.0, scope);
                self.list(&w.1.list, scope);
            }
            CompoundCommand::Coprocess(c) => self.command(&c.body, scope),
        }
    }

    /// The parser reads `( ( ls ) )` as the arithmetic command `((ls))`; bash reads nested
    /// subshells wherever the two parentheses are apart. Those are walked from the source.
    fn spaced_parentheses(&mut self, loc: &brush_parser::SourceSpan, scope: &Scope) {
        let Some(text) = self.sources.last().and_then(|s| s.slice(loc)) else {
            return;
        };
        if text.starts_with("((") {
            return;
        }
        let inner = text
            .strip_prefix('(')
            .and_then(|t| t.strip_suffix(')'))
            .map(str::to_owned);
        if let Some(inner) = inner {
            self.inner_script(&inner, scope);
        }
    }

    /// Arithmetic is not a word, but bash expands substitutions in it.
    fn arithmetic(&mut self, text: &str, scope: &Scope) {
        if words::looks_like_substitution(text) {
            self.word(text, scope, &mut Vec::new());
        }
    }

    /// Analyses one word, walking its substitutions; their commands' names go to `names`.
    fn word(&mut self, raw: &str, scope: &Scope, names: &mut Vec<String>) -> Word {
        let w = words::analyse(raw, &self.options);
        self.substitutions(&w, scope, names);
        w
    }

    fn substitutions(&mut self, w: &Word, scope: &Scope, names: &mut Vec<String>) {
        if w.substitutions.is_empty() {
            return;
        }
        self.flag(Unresolved::CommandSubstitution);
        let inner = Scope {
            top: false,
            piped: None,
            ..scope.clone()
        };
        for code in &w.substitutions {
            let start = self.commands.len();
            self.inner_script(code, &inner);
            names.extend(self.names_since(start));
        }
    }

    fn process_substitution(
        &mut self,
        sub: &ast::SubshellCommand,
        scope: &Scope,
        names: &mut Vec<String>,
    ) {
        let inner = Scope {
            top: false,
            piped: None,
            ..scope.clone()
        };
        let start = self.commands.len();
        self.list(&sub.list, &inner);
        names.extend(self.names_since(start));
    }

    fn redirect(&mut self, r: &IoRedirect, scope: &Scope, inputs: &mut Inputs) {
        match r {
            IoRedirect::File(fd, kind, target) => {
                let reads_stdin =
                    matches!(fd, None | Some(0)) && matches!(kind, ast::IoFileRedirectKind::Read);
                if reads_stdin {
                    inputs.stdin_redirected = true;
                }
                match target {
                    IoFileRedirectTarget::Filename(w) | IoFileRedirectTarget::Duplicate(w) => {
                        let w = self.raw(w);
                        self.word(&w, scope, &mut inputs.substituted);
                    }
                    IoFileRedirectTarget::ProcessSubstitution(_, sub) => {
                        self.process_substitution(sub, scope, &mut inputs.substituted);
                    }
                    IoFileRedirectTarget::Fd(_) => {}
                }
            }
            IoRedirect::HereDocument(_, doc) => {
                if doc.requires_expansion {
                    let w = words::analyse_heredoc(&doc.doc.value, &self.options);
                    self.substitutions(&w, scope, &mut inputs.substituted);
                    inputs.stdin_text = (!w.dynamic).then_some(w.text);
                } else {
                    inputs.stdin_text = Some(doc.doc.value.clone());
                }
            }
            IoRedirect::HereString(_, w) => {
                let w = self.raw(w);
                let w = self.word(&w, scope, &mut inputs.substituted);
                inputs.stdin_text = (!w.dynamic).then(|| format!("{}\n", w.text));
            }
            IoRedirect::OutputAndError(w, _) => {
                let w = self.raw(w);
                self.word(&w, scope, &mut inputs.substituted);
            }
        }
    }

    fn simple(&mut self, simple: &ast::SimpleCommand, scope: &Scope) {
        let mut inputs = Inputs::default();
        let mut words: Vec<Word> = Vec::new();
        for item in simple.prefix.iter().flat_map(|p| &p.0) {
            self.item(item, scope, &mut inputs, &mut words);
        }
        if let Some(w) = &simple.word_or_name {
            let w = self.raw(w);
            let w = self.word(&w, scope, &mut inputs.substituted);
            words.push(w);
        }
        for item in simple.suffix.iter().flat_map(|s| &s.0) {
            self.item(item, scope, &mut inputs, &mut words);
        }
        if words.is_empty() {
            return;
        }
        if scope.top && self.argv.is_none() {
            self.argv = Some(words.iter().map(|w| w.text.clone()).collect());
        }
        self.resolve(&words, scope, &inputs);
    }

    fn item(
        &mut self,
        item: &CommandPrefixOrSuffixItem,
        scope: &Scope,
        inputs: &mut Inputs,
        words: &mut Vec<Word>,
    ) {
        match item {
            CommandPrefixOrSuffixItem::IoRedirect(r) => self.redirect(r, scope, inputs),
            CommandPrefixOrSuffixItem::Word(w) => {
                let w = self.raw(w);
                let w = self.word(&w, scope, &mut inputs.substituted);
                words.push(w);
            }
            // An assignment before the command only sets a variable; after it (`sudo
            // FOO=1 cmd`), it is an argument like any other.
            CommandPrefixOrSuffixItem::AssignmentWord(_, w) => {
                let w = self.raw(w);
                let analysed = self.word(&w, scope, &mut inputs.substituted);
                if !words.is_empty() {
                    words.push(analysed);
                }
            }
            CommandPrefixOrSuffixItem::ProcessSubstitution(kind, sub) => {
                self.process_substitution(sub, scope, &mut inputs.substituted);
                let arrow = match kind {
                    ast::ProcessSubstitutionKind::Read => '<',
                    ast::ProcessSubstitutionKind::Write => '>',
                };
                words.push(Word {
                    text: format!("{arrow}(...)"),
                    dynamic: true,
                    ..Word::default()
                });
            }
        }
    }

    /// Peels wrappers off a command's words and records what runs.
    fn resolve(&mut self, words: &[Word], scope: &Scope, inputs: &Inputs) {
        let texts: Vec<String> = words.iter().map(|w| w.text.clone()).collect();
        let mut wrappers = scope.wrappers.clone();
        let mut at = 0;
        loop {
            let Some(word) = words.get(at) else {
                return;
            };
            if word.dynamic {
                self.flag(Unresolved::VariableProgram);
            }
            if word.pattern {
                self.flag(Unresolved::GlobProgram);
            }
            let program = word.text.clone();
            let name = basename(&program).to_owned();
            if at == 0 && !word.dynamic && self.call_function(&name, scope) {
                return;
            }
            let args = texts.get(at + 1..).unwrap_or_default();
            let inner = match wrappers::wrapped(&name, args) {
                Wrapped::No => break,
                Wrapped::Runs(None) | Wrapped::RunsWithInput(None) => break,
                Wrapped::Runs(Some(k)) => k,
                Wrapped::RunsWithInput(Some(k)) => {
                    self.flag(Unresolved::XargsInput);
                    k
                }
                Wrapped::RunsShell(code) => {
                    if words
                        .get(at + 1..)
                        .unwrap_or_default()
                        .iter()
                        .any(|w| w.dynamic)
                    {
                        self.flag(Unresolved::VariableProgram);
                    }
                    self.programs.push(program);
                    wrappers.push(name);
                    self.shell_string(&code, &wrappers, scope.shell_depth + 1);
                    return;
                }
                Wrapped::RunsInteractiveShell => {
                    self.flag(Unresolved::ShellFromStdin);
                    break;
                }
            };
            self.programs.push(program);
            wrappers.push(name);
            at += 1 + inner;
        }
        let argv = texts.get(at..).unwrap_or_default();
        let args = argv.get(1..).unwrap_or_default();
        let program = argv.first().cloned().unwrap_or_default();
        let name = basename(&program).to_owned();
        self.programs.push(program.clone());
        self.commands.push(SimpleCommand {
            program,
            name: name.clone(),
            argv: argv.to_vec(),
            wrappers: wrappers.clone(),
            shell_depth: scope.shell_depth,
        });
        let words = words.get(at + 1..).unwrap_or_default();
        self.runs_code(&name, args, words, &wrappers, scope, inputs);
    }

    /// Lists a function's body at its first call; true when `name` is a function.
    fn call_function(&mut self, name: &str, scope: &Scope) -> bool {
        let Some((_, body)) = self.functions.iter_mut().find(|(n, _)| n == name) else {
            return false;
        };
        if let Some(body) = body.take() {
            let inner = Scope {
                top: false,
                ..scope.clone()
            };
            self.function_body(&body, &inner);
        }
        true
    }

    /// What a command that takes code (a shell, an interpreter, `eval`, `source`, `find
    /// -exec`) runs.
    fn runs_code(
        &mut self,
        name: &str,
        args: &[String],
        words: &[Word],
        wrappers: &[String],
        scope: &Scope,
        inputs: &Inputs,
    ) {
        let mut inner_wrappers = wrappers.to_vec();
        inner_wrappers.push(name.to_owned());
        if programs::is_shell(name) {
            match programs::shell_code(args) {
                Code::Inline(k) => {
                    if words.get(k).is_some_and(|w| w.dynamic) {
                        self.flag(Unresolved::VariableProgram);
                        self.fed_by(&inputs.substituted);
                    }
                    if let Some(code) = args.get(k) {
                        self.shell_string(code, &inner_wrappers, scope.shell_depth + 1);
                    }
                }
                Code::Script(k) => {
                    if words.get(k).is_some_and(|w| w.dynamic) {
                        self.flag(Unresolved::ShellFromStdin);
                        self.fed_by(&inputs.substituted);
                    }
                }
                Code::Stdin => self.stdin_code(inputs, scope, Some(&inner_wrappers)),
            }
        } else if let Some(code) = programs::interpreter_code(name, args) {
            match code {
                Code::Inline(_) => {
                    self.flag(Unresolved::InterpreterCode);
                    self.fed_by(&inputs.substituted);
                }
                Code::Script(k) => {
                    if words.get(k).is_some_and(|w| w.dynamic) {
                        self.flag(Unresolved::ShellFromStdin);
                        self.fed_by(&inputs.substituted);
                    }
                }
                Code::Stdin => self.stdin_code(inputs, scope, None),
            }
        } else {
            match name {
                "eval" => {
                    self.flag(Unresolved::Eval);
                    if words.iter().any(|w| w.dynamic) {
                        self.fed_by(&inputs.substituted);
                    }
                    self.shell_string(&args.join(" "), &inner_wrappers, scope.shell_depth + 1);
                }
                "source" | "." => {
                    self.flag(Unresolved::Source);
                    self.fed_by(&inputs.substituted);
                    if args.first().is_some_and(|a| a == "/dev/stdin" || a == "-") {
                        self.stdin_code(inputs, scope, None);
                    }
                }
                "alias" if args.iter().any(|a| a.contains('=')) => {
                    self.flag(Unresolved::Alias);
                }
                "find" => {
                    for range in wrappers::find_execs(args) {
                        let Some(inner) = words.get(range) else {
                            continue;
                        };
                        let inner_scope = Scope {
                            wrappers: inner_wrappers.clone(),
                            top: false,
                            piped: None,
                            ..scope.clone()
                        };
                        self.resolve(inner, &inner_scope, &Inputs::default());
                    }
                }
                _ => {}
            }
        }
    }

    /// A shell or interpreter reading its program from standard input: a here-document
    /// that is known is read as a shell line; anything else is flagged.
    fn stdin_code(&mut self, inputs: &Inputs, scope: &Scope, shell: Option<&[String]>) {
        if let (Some(text), Some(wrappers)) = (&inputs.stdin_text, shell) {
            self.shell_string(text, wrappers, scope.shell_depth + 1);
            return;
        }
        self.flag(Unresolved::ShellFromStdin);
        if let Some(upstream) = &scope.piped {
            if !inputs.stdin_redirected {
                self.fed_by(upstream);
            }
        }
        self.fed_by(&inputs.substituted);
    }

    /// Flags code that comes from a download or a decoder.
    fn fed_by(&mut self, names: &[String]) {
        if names.iter().any(|n| programs::is_fetcher(n)) {
            self.flag(Unresolved::FetchToShell);
        }
        if names.iter().any(|n| programs::is_decoder(n)) {
            self.flag(Unresolved::DecodeToShell);
        }
    }

    fn shell_string(&mut self, code: &str, wrappers: &[String], depth: u32) {
        if depth > limits::MAX_SHELL_DEPTH {
            self.flag(Unresolved::TooDeep);
            return;
        }
        let scope = Scope {
            wrappers: wrappers.to_vec(),
            shell_depth: depth,
            top: false,
            piped: None,
        };
        self.inner_script(code, &scope);
    }
}

/// The program without its directory. `/usr/bin/../bin/rm` is still `rm`: the last
/// component names the file that runs.
pub fn basename(program: &str) -> &str {
    program.rsplit('/').next().unwrap_or(program)
}

/// A function's body, with the script it was defined in (its locations point there).
struct Function {
    body: ast::FunctionBody,
    source: Rc<Source>,
}

/// A script's text with the byte offset of each character: the parser's locations count
/// characters.
struct Source {
    text: String,
    offsets: Vec<usize>,
}

impl Source {
    fn new(text: &str) -> Self {
        let mut offsets: Vec<usize> = text.char_indices().map(|(i, _)| i).collect();
        offsets.push(text.len());
        Source {
            text: text.to_owned(),
            offsets,
        }
    }

    fn slice(&self, loc: &brush_parser::SourceSpan) -> Option<&str> {
        let start = *self.offsets.get(loc.start.index)?;
        let end = *self.offsets.get(loc.end.index)?;
        self.text.get(start..end)
    }
}
