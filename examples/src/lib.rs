//! Example nodes written with `straum-node`, one binary per workload. Each must pass
//! its workload under straum (and under faults where the workload allows them).
