module {{CRATE}}

go 1.19
