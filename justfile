# certsmith tasks. `just --list` shows them.

# Man pages from the clap definitions into target/man/ (view: man -l target/man/certsmith.1)
man dir="target/man":
    cargo run --quiet --example man -- {{dir}}

# Shell completions into target/completions/
completions dir="target/completions":
    mkdir -p {{dir}}
    for sh in bash zsh fish; do cargo run --quiet -- completions $sh > {{dir}}/certsmith.$sh; done
