//! `init [NAME]`: a commented starter scenario that passes `check` and runs anywhere
//! (python3's http.server on a free loopback port); `completions <shell>`.
use crate::cli::{CompletionsArgs, InitArgs};
use crate::error::{CliError, CliResult};
use testrunner_engine::ExitCode;

const STARTER: &str = include_str!("starter.yaml");

pub fn init(args: InitArgs) -> CliResult {
    let name = args.name.as_deref().unwrap_or("my-scenario");
    if !testrunner_scenario::valid_scenario_id(name) {
        return Err(CliError::msg(
            format!("`{name}` is not a scenario id"),
            Some("letters, digits, `-`, `_` and `.`, starting with a letter or digit, e.g. `failover`"),
        ));
    }
    let path = args.dir.join(format!("{name}.yaml"));
    let text = STARTER.replace("__NAME__", name).replace("__FILE__", &path.to_string_lossy());
    if let Err(e) = std::fs::create_dir_all(&args.dir) {
        return Err(CliError::msg(format!("cannot create {}: {e}", args.dir.display()), None));
    }
    // Never overwrite: a scenario someone edited is not a starter any more.
    let file = std::fs::OpenOptions::new().write(true).create_new(true).open(&path);
    match file.and_then(|mut f| std::io::Write::write_all(&mut f, text.as_bytes())) {
        Ok(()) => {
            println!("wrote {}", path.display());
            println!("next: testrunner check {0} && testrunner run {0}", path.display());
            Ok(ExitCode::Pass)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(CliError::msg(
            format!("{} exists already", path.display()),
            Some("choose another NAME; init never overwrites"),
        )),
        Err(e) => Err(CliError::msg(format!("cannot write {}: {e}", path.display()), None)),
    }
}

pub fn completions(args: CompletionsArgs) -> CliResult {
    use clap::CommandFactory;
    let mut cmd = crate::cli::Cli::command();
    clap_complete::generate(args.shell, &mut cmd, "testrunner", &mut std::io::stdout());
    Ok(ExitCode::Pass)
}
