//! Plain-text tables for the terminal.

/// Columns padded to their widest cell; cells longer than a column's limit are cut with "…".
pub struct Table {
    headers: Vec<&'static str>,
    limits: Vec<usize>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these headers and per-column character limits (0 = no limit).
    pub fn new(headers: &[(&'static str, usize)]) -> Table {
        Table {
            headers: headers.iter().map(|(header, _)| *header).collect(),
            limits: headers.iter().map(|(_, limit)| *limit).collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row.
    pub fn row(&mut self, cells: Vec<String>) {
        let cells = cells.into_iter().zip(&self.limits).map(|(cell, limit)| cut(&cell, *limit)).collect();
        self.rows.push(cells);
    }

    /// The table as text, one line per row, ending in a newline.
    pub fn render(&self) -> String {
        let mut widths: Vec<usize> = self.headers.iter().map(|header| header.chars().count()).collect();
        for row in &self.rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        let mut out = String::new();
        let header_cells: Vec<String> = self.headers.iter().map(|header| header.to_string()).collect();
        for row in std::iter::once(&header_cells).chain(&self.rows) {
            let mut line = String::new();
            for (index, (cell, width)) in row.iter().zip(&widths).enumerate() {
                if index + 1 == row.len() {
                    line.push_str(cell);
                } else {
                    line.push_str(cell);
                    line.push_str(&" ".repeat(width - cell.chars().count() + 2));
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

/// One line, at most `limit` characters (0 = no limit).
pub fn cut(text: &str, limit: usize) -> String {
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if limit == 0 || flat.chars().count() <= limit {
        return flat;
    }
    let mut out: String = flat.chars().take(limit.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pads_and_cuts() {
        let mut table = Table::new(&[("ID", 0), ("TEXT", 5)]);
        table.row(vec!["1".into(), "short".into()]);
        table.row(vec!["22".into(), "much longer\ntext".into()]);
        assert_eq!(table.render(), "ID  TEXT\n1   short\n22  much…\n");
    }
}
