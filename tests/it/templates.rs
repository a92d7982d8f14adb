//! Chat templates written the way current GGUFs' are (Llama 3, Qwen 2.5/3, Gemma 3, Phi 4): the
//! Python string and dict methods, `strftime_now`, `raise_exception`, namespaces and slices. Each
//! template here is our own, written to use one family's features.

use distillery::llm::template::{strftime, ChatTemplate};
use distillery::sample::{Message, Role};

fn render(source: &str, messages: &[Message]) -> Result<String, String> {
    let t = ChatTemplate::Jinja { source: source.into(), bos: "<s>".into(), eos: "</s>".into() };
    t.render(messages)
}

fn conversation() -> Vec<Message> {
    vec![
        Message { role: Role::System, content: "  Be brief.  ".into() },
        Message { role: Role::User, content: "Hi there".into() },
        Message { role: Role::Assistant, content: "<think>greet</think>\n\nHello!".into() },
        Message { role: Role::User, content: "Bye".into() },
    ]
}

#[test]
fn llama3_style_date_line_and_strip() {
    // strftime_now for the date line, `.strip()` on the system prompt.
    let src = "{{ bos_token }}{% set date_string = strftime_now(\"%d %b %Y\") %}{% for m in messages %}<|{{ m['role'] }}|>{% if m['role'] == 'system' %}Today Date: {{ date_string }}\n{% endif %}{{ m['content'].strip() }}<|eot|>{% endfor %}{% if add_generation_prompt %}<|assistant|>{% endif %}";
    let out = render(src, &conversation()).unwrap();
    let today = strftime(
        "%d %b %Y",
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
            as i64,
    );
    assert!(out.starts_with("<s><|system|>Today Date: "), "{out}");
    assert!(out.contains(&format!("Today Date: {today}\nBe brief.<|eot|>")), "{out}");
    assert!(out.ends_with("<|assistant|>"));
    assert_eq!(
        strftime("%d %b %Y %H:%M:%S %A %B %j %y %m %e|%%", 784_111_777),
        "06 Nov 1994 08:49:37 Sunday November 310 94 11  6|%"
    );
    assert_eq!(strftime("%a, %d %b %Y", 0), "Thu, 01 Jan 1970");
    assert_eq!(strftime("%Y-%m-%d", 951_782_400), "2000-02-29");
}

#[test]
fn qwen3_style_split_lstrip_startswith_and_reverse_slices() {
    // Qwen 3 drops earlier thinking with split('</think>')[-1].lstrip('\n') and finds the last
    // user turn walking messages[::-1] in a namespace.
    let src = "{% set ns = namespace(last_user=0) %}{% for m in messages[::-1] %}{% if m.role == 'user' and ns.last_user == 0 %}{% set ns.last_user = messages|length - loop.index0 - 1 %}{% endif %}{% endfor %}{% for m in messages %}{% set content = m.content %}{% if m.role == 'assistant' %}{% set content = content.split('</think>')[-1].lstrip('\n') %}{% endif %}<|im_start|>{{ m.role }}\n{{ content.rstrip() }}{% if loop.index0 == ns.last_user %} [last]{% endif %}{% if content.startswith('Hel') and content.endswith('!') %} [greeting]{% endif %}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";
    let out = render(src, &conversation()).unwrap();
    assert!(out.contains("<|im_start|>assistant\nHello! [greeting]<|im_end|>"), "{out}");
    assert!(out.contains("<|im_start|>user\nBye [last]<|im_end|>"), "{out}");
    assert!(!out.contains("Hi there [last]"));
}

#[test]
fn gemma3_style_string_tests_upper_lower_replace_and_raise_exception() {
    // Gemma 3 folds the system prompt into the first user turn and refuses a bad order.
    let src = "{% if messages[0]['role'] == 'system' %}{% if messages[0]['content'] is string %}{% set first = messages[0]['content'].strip() + '\n\n' %}{% endif %}{% set loop_messages = messages[1:] %}{% else %}{% set first = '' %}{% set loop_messages = messages %}{% endif %}{% for m in loop_messages %}{% if (m['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}<start_of_turn>{{ m['role'].replace('assistant', 'model') }}\n{% if loop.first %}{{ first }}{% endif %}{{ m['content'].upper() if m['role'] == 'user' else m['content'].lower() }}<end_of_turn>\n{% endfor %}";
    let out = render(src, &conversation()).unwrap();
    assert!(out.starts_with("<start_of_turn>user\nBe brief.\n\nHI THERE<end_of_turn>"), "{out}");
    assert!(out.contains("<start_of_turn>model\n<think>greet</think>\n\nhello!"), "{out}");
    let bad = vec![
        Message { role: Role::User, content: "a".into() },
        Message { role: Role::User, content: "b".into() },
    ];
    assert!(render(src, &bad).unwrap_err().contains("must alternate"));
}

#[test]
fn phi4_style_dict_items_get_and_title() {
    let src = "{% set labels = {'system': 'sys', 'user': 'usr', 'assistant': 'bot'} %}{% for k, v in labels.items() %}{{ k }}={{ v }};{% endfor %}\n{% for m in messages %}<|im_start|>{{ labels.get(m['role'], 'other') }}<|im_sep|>{{ m['content'].strip().title() }}<|im_end|>{% endfor %}";
    let out = render(src, &conversation()[..2]).unwrap();
    // (minijinja iterates a map literal by key, Python by insertion: the pairs, in some order.)
    for pair in ["system=sys;", "user=usr;", "assistant=bot;"] {
        assert!(out.contains(pair), "{out}");
    }
    assert!(out.contains("<|im_start|>usr<|im_sep|>Hi There<|im_end|>"), "{out}");
}
