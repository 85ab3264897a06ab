use super::*;

const ACCOUNT: &str = "gh_3c884a361561";
const OPENID: &str = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o";
const TICKET: &str = "gQH47joAAAAAAAAAASxodHRwOi8vd2VpeGluLnFxLmNvbS9xL2taZ2Z3TVRtNzJXV1Brb3ZhYmJJAAIEZ23sUwMEmm3sUw==";

fn load(xml: &str, create_time: i64, msg_type: &str) -> RawMessage {
    let raw = parse(xml).unwrap();
    assert_eq!(raw.to_user_name, ACCOUNT);
    assert_eq!(raw.from_user_name, OPENID);
    assert_eq!(raw.create_time, create_time);
    assert_eq!(raw.msg_type, msg_type);
    raw
}

mod envelope;
mod events;
mod guard;
mod messages;
mod reply;
