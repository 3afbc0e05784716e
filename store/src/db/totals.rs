//! The numbers rows carry (object counts, bytes used, object sizes) and the
//! totals summed from them. A total must stay an INTEGER: SQLite turns an
//! integer sum that overflows into a REAL, after which every read of the
//! stats fails and the database answers 500 for ever. So a row's number is
//! refused outside `0..=MAX_ROW_VALUE` where it enters (the servers answer
//! 400), and totals saturate at `0..=i64::MAX` instead of wrapping, for
//! whatever rows replication merges in.

/// The largest count or size one row may carry: 2^60 (an exbibyte of
/// bytes used by one container), far above any real container yet eight
/// of them still sum without reaching i64::MAX.
pub const MAX_ROW_VALUE: i64 = 1 << 60;

/// Whether `v` may be a row's count or size.
pub fn row_value_ok(v: i64) -> bool {
    (0..=MAX_ROW_VALUE).contains(&v)
}

/// `total + delta`, kept within `0..=i64::MAX`.
pub fn add(total: i64, delta: i64) -> i64 {
    total.saturating_add(delta).max(0)
}

/// SQL for `column + <param>` kept within `0..=i64::MAX`: SQLite makes an
/// overflowing integer sum a REAL, which `MIN` then caps back to the
/// largest INTEGER (comparisons of INTEGER and REAL are exact).
pub fn sql_add(column: &str, param: &str) -> String {
    format!("MAX(0, MIN({column} + {param}, {}))", i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_saturate() {
        assert_eq!(add(i64::MAX - 1, 5), i64::MAX);
        assert_eq!(add(3, -5), 0);
        assert_eq!(add(3, 4), 7);
        assert!(row_value_ok(0) && row_value_ok(MAX_ROW_VALUE));
        assert!(!row_value_ok(-1) && !row_value_ok(MAX_ROW_VALUE + 1));
    }

    #[test]
    fn sql_sums_stay_integers() {
        let c = rusqlite::Connection::open_in_memory().unwrap();
        c.execute_batch("CREATE TABLE t (n INTEGER NOT NULL); INSERT INTO t VALUES (0);")
            .unwrap();
        let bump = format!("UPDATE t SET n = {}", sql_add("n", "?1"));
        for _ in 0..10 {
            c.execute(&bump, [MAX_ROW_VALUE]).unwrap();
        }
        let (n, ty): (i64, String) = c
            .query_row("SELECT n, typeof(n) FROM t", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap();
        assert_eq!((n, ty.as_str()), (i64::MAX, "integer"));
        c.execute(&bump, [i64::MIN]).unwrap();
        let n: i64 = c.query_row("SELECT n FROM t", [], |r| r.get(0)).unwrap();
        assert_eq!(n, 0);
    }
}
