use super::*;

#[test]
fn only_unreserved_characters_stay_unescaped() {
    let unreserved = "ABCXYZabcxyz0189-._~";
    assert_eq!(percent_encode(unreserved), unreserved);
    assert_eq!(
        percent_encode("a b+c/d?e=f&g%h*i!j'k(l)m:n@o#p,q;r$s"),
        "a%20b%2Bc%2Fd%3Fe%3Df%26g%25h%2Ai%21j%27k%28l%29m%3An%40o%23p%2Cq%3Br%24s"
    );
    assert_eq!(percent_encode("café\n"), "caf%C3%A9%0A");
    assert_eq!(
        percent_encode("https://app.example/callback"),
        "https%3A%2F%2Fapp.example%2Fcallback"
    );
}

#[test]
fn every_ascii_character_round_trips() {
    let all: String = (0u8..0x80).map(char::from).collect();
    assert_eq!(
        percent_decode(percent_encode(&all).as_bytes()),
        all.as_bytes()
    );
}

#[test]
fn decoding_is_once_and_leaves_bad_escapes_and_plus_alone() {
    assert_eq!(percent_decode(b"%2F%2f%41"), b"//A");
    assert_eq!(percent_decode(b"%252F"), b"%2F");
    assert_eq!(percent_decode(b"a+b"), b"a+b");
    for bad in ["%", "%4", "%zz", "%4g", "%+F", "%-1", "100%", "%%41"].map(str::as_bytes) {
        let expected: &[u8] = if bad == b"%%41" { b"%A" } else { bad };
        assert_eq!(percent_decode(bad), expected, "{bad:?}");
    }
    assert_eq!(percent_decode(b"%ff%00"), [0xff, 0]);
}

#[test]
fn form_pairs_decode_names_and_values_with_plus_as_space() {
    let pairs: Vec<_> = form_pairs(b"a=1&b+c=x+y%2B&flag&=v&d=e=f&a=2").collect();
    let expected: Vec<(Vec<u8>, Vec<u8>)> = [
        ("a", "1"),
        ("b c", "x y+"),
        ("flag", ""),
        ("", "v"),
        ("d", "e=f"),
        ("a", "2"),
    ]
    .iter()
    .map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec()))
    .collect();
    assert_eq!(pairs, expected);
    assert_eq!(
        form_pairs(b"%ff=%fe").collect::<Vec<_>>(),
        [(vec![0xff], vec![0xfe])]
    );
}

#[test]
fn query_param_is_the_first_match_as_text() {
    let query = b"code=the-code&state=s%2Ft&code=second&user=a+b&bad=%ff";
    assert_eq!(query_param(query, "code").as_deref(), Some("the-code"));
    assert_eq!(query_param(query, "state").as_deref(), Some("s/t"));
    assert_eq!(query_param(query, "user").as_deref(), Some("a b"));
    assert_eq!(query_param(query, "bad").as_deref(), Some("\u{fffd}"));
    assert_eq!(query_param(b"st%61te=x", "state").as_deref(), Some("x"));
    assert_eq!(query_param(query, "missing"), None);
    assert_eq!(query_param(b"", "code"), None);
}

#[test]
fn a_built_form_reads_back() {
    let built = form([
        ("grant_type", "authorization_code"),
        ("redirect_uri", "https://app.example/cb?x=1&y=2"),
        ("scope", "openid profile"),
    ]);
    assert_eq!(
        built,
        "grant_type=authorization_code&redirect_uri=https%3A%2F%2Fapp.example%2Fcb%3Fx%3D1%26y%3D2&scope=openid%20profile"
    );
    assert_eq!(
        query_param(built.as_bytes(), "redirect_uri").as_deref(),
        Some("https://app.example/cb?x=1&y=2")
    );
    assert_eq!(form(std::iter::empty()), "");
}
