//! Chat prompts: the model's own `tokenizer.chat_template` rendered with minijinja, or ChatML
//! when the file has none.

use crate::sample::{Message, Role};
use minijinja::{context, Environment, Error, ErrorKind};

fn role(r: Role) -> &'static str {
    match r {
        Role::System => "system",
        Role::User => "user",
        Role::Assistant => "assistant",
    }
}

/// How to turn messages into the prompt text.
#[derive(Debug, Clone, PartialEq)]
pub enum ChatTemplate {
    /// A Jinja template from the model file.
    Jinja { source: String, bos: String, eos: String },
    /// `<|im_start|>role\ncontent<|im_end|>\n` …, used only when the file has no template.
    ChatMl,
}

impl ChatTemplate {
    /// Renders the conversation, ending with the assistant's turn opened.
    pub fn render(&self, messages: &[Message]) -> Result<String, String> {
        self.render_with(messages, true)
    }

    /// Renders the conversation; `open`: end with the assistant's turn opened (a prompt), or not
    /// (a whole conversation, as training sees it).
    pub fn render_with(&self, messages: &[Message], open: bool) -> Result<String, String> {
        match self {
            ChatTemplate::ChatMl => {
                let mut s = String::new();
                for m in messages {
                    s.push_str(&format!("<|im_start|>{}\n{}<|im_end|>\n", role(m.role), m.content));
                }
                if open {
                    s.push_str("<|im_start|>assistant\n");
                }
                Ok(s)
            }
            ChatTemplate::Jinja { source, bos, eos } => {
                let mut env = Environment::new();
                env.set_trim_blocks(true);
                env.set_lstrip_blocks(true);
                env.add_function("raise_exception", |msg: String| -> Result<String, Error> {
                    Err(Error::new(ErrorKind::InvalidOperation, msg))
                });
                env.add_template("chat", source)
                    .map_err(|e| format!("the chat template does not parse: {e}"))?;
                let msgs: Vec<_> = messages
                    .iter()
                    .map(|m| context! { role => role(m.role), content => m.content })
                    .collect();
                env.get_template("chat")
                    .and_then(|t| t.render(context! { messages => msgs, add_generation_prompt => open, bos_token => bos, eos_token => eos }))
                    .map_err(|e| format!("the chat template failed: {e}"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msgs() -> Vec<Message> {
        vec![
            Message { role: Role::System, content: "Be brief.".into() },
            Message { role: Role::User, content: "Hi".into() },
        ]
    }

    #[test]
    fn chatml_fallback() {
        assert_eq!(
            ChatTemplate::ChatMl.render(&msgs()).unwrap(),
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
        );
    }

    #[test]
    fn jinja_template_matches_chatml_for_a_chatml_template() {
        let source = "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";
        let t =
            ChatTemplate::Jinja { source: source.into(), bos: String::new(), eos: String::new() };
        assert_eq!(t.render(&msgs()).unwrap(), ChatTemplate::ChatMl.render(&msgs()).unwrap());
        let bad = ChatTemplate::Jinja {
            source: "{{ raise_exception('no system role') }}".into(),
            bos: String::new(),
            eos: String::new(),
        };
        assert!(bad.render(&msgs()).unwrap_err().contains("no system role"));
    }
}
