//! A Dockerfile read into its instructions and stages, for the tests that check the images
//! without an image builder (none runs on CI machines): the Magento image kit renders
//! (`image.rs`) and Ellison's own (`ellison_image.rs`).

/// One Dockerfile instruction: keyword (upper case) and its arguments, continuation lines
/// joined.
#[derive(Debug)]
pub struct Instruction {
    pub keyword: String,
    pub args: String,
}

/// Instructions grouped by stage: `(stage name, base image, instructions after its FROM)`; `preamble` holds
/// what comes before the first FROM.
#[derive(Debug)]
pub struct Dockerfile {
    pub preamble: Vec<Instruction>,
    pub stages: Vec<(String, String, Vec<Instruction>)>,
}

/// Reads a Dockerfile; panics on what these images never hold (a lower-case keyword, an
/// instruction outside the list, a stage without a name).
pub fn parse(text: &str) -> Dockerfile {
    let mut instructions = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if current.is_empty() && (trimmed.is_empty() || trimmed.starts_with('#')) {
            continue;
        }
        if let Some(head) = line.strip_suffix('\\') {
            current.push_str(head);
            current.push('\n');
            continue;
        }
        current.push_str(line);
        let (keyword, args) = current
            .trim()
            .split_once(char::is_whitespace)
            .unwrap_or_else(|| panic!("an instruction without arguments: {current:?}"));
        instructions.push(Instruction {
            keyword: keyword.to_owned(),
            args: args.trim().to_owned(),
        });
        current.clear();
    }
    assert!(current.is_empty(), "a continuation line ends the file");
    let mut df = Dockerfile {
        preamble: Vec::new(),
        stages: Vec::new(),
    };
    for i in instructions {
        assert_eq!(
            i.keyword,
            i.keyword.to_uppercase(),
            "keywords in upper case: {i:?}"
        );
        assert!(
            [
                "ARG",
                "FROM",
                "RUN",
                "COPY",
                "WORKDIR",
                "ENV",
                "USER",
                "EXPOSE",
                "CMD",
                "ENTRYPOINT",
                "LABEL",
            ]
            .contains(&i.keyword.as_str()),
            "unexpected instruction {i:?}"
        );
        if i.keyword == "FROM" {
            let words: Vec<&str> = i.args.split_whitespace().collect();
            assert!(
                words.len() == 3 && words[1] == "AS",
                "FROM IMAGE AS NAME: {i:?}"
            );
            df.stages
                .push((words[2].to_owned(), words[0].to_owned(), Vec::new()));
        } else if let Some(stage) = df.stages.last_mut() {
            stage.2.push(i);
        } else {
            assert_eq!(i.keyword, "ARG", "only ARG before the first FROM");
            df.preamble.push(i);
        }
    }
    df
}
