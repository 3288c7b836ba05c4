use super::*;
use crate::testing::MemHost;

#[test]
fn marks_and_clears() {
    let host = MemHost::default();
    assert!(marked(&host).is_empty());
    assert!(mark(&host, 5) && mark(&host, 4095) && mark(&host, 5));
    assert_eq!(marked(&host), vec![5, 4095]);
    assert!(clear(&host, 5));
    assert_eq!(marked(&host), vec![4095]);
}
