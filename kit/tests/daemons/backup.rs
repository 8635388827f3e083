//! The backup's dump and the restore runbook's restore, as rendered, in the real `bash`,
//! `mariadb-dump` and `mariadb` against a real MariaDB: a dump taken, the newest kept, the
//! database damaged and restored from the dump; the runbook through shellcheck (it drives
//! `kubectl`, which has no cluster here).

use std::time::Duration;

use kit::render::{magento, Content};
use kit::{validate, Target};

use crate::support::{run, tempdir, write, Mariadb};

const WAIT: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dump_of_the_backup_restores_the_database() {
    let dir = tempdir("kit-backup-");
    let dir = dir.path();
    let db = Mariadb::start(dir, false).await;
    db.sql(
        "CREATE DATABASE magento; CREATE USER magento@'%' IDENTIFIED BY 'db-Secret-1'; \
         GRANT ALL ON magento.* TO magento@'%'; \
         CREATE TABLE magento.sales_order (id INT PRIMARY KEY, total DECIMAL(10,2)); \
         INSERT INTO magento.sales_order VALUES (1, 19.99), (2, 5.00)",
    )
    .await;
    let backups = dir.join("backup");
    std::fs::create_dir_all(&backups).expect("mkdir");
    // Two older dumps: with backupKeep 2 the run keeps itself and the newer one.
    for (name, age) in [
        ("magento-20260101T000000Z.sql.gz", "3 days ago"),
        ("magento-20260102T000000Z.sql.gz", "2 days ago"),
    ] {
        let f = backups.join(name);
        write(&f, "");
        let aged = run("touch", &["-d", age, &f.to_string_lossy()], &[], WAIT).await;
        assert_eq!(aged.code, Some(0), "{aged}");
    }
    let port = db.port.to_string();
    let env = [
        ("DB_HOST", "127.0.0.1"),
        ("DB_PORT", port.as_str()),
        ("DB_PASSWORD", "db-Secret-1"),
    ];
    let backup = magento::backup_command(&backups.to_string_lossy(), 2);
    let dumped = run("bash", &["-c", &backup], &env, WAIT).await;
    assert_eq!(dumped.code, Some(0), "{dumped}");
    let mut kept: Vec<String> = std::fs::read_dir(&backups)
        .expect("list")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    kept.sort();
    assert_eq!(kept.len(), 2, "{kept:?}");
    assert_eq!(kept[0], "magento-20260102T000000Z.sql.gz", "{kept:?}");
    let dump = backups.join(&kept[1]);

    // The damage, then the restore.
    db.sql("DELETE FROM magento.sales_order WHERE id = 1; DROP TABLE IF EXISTS magento.nothing")
        .await;
    let restored = run(
        "bash",
        &[
            "-c",
            &magento::restore_command(),
            "bash",
            &dump.to_string_lossy(),
        ],
        &env,
        WAIT,
    )
    .await;
    assert_eq!(restored.code, Some(0), "{restored}");
    let rows = run(
        "mariadb",
        &[
            "--no-defaults",
            "--protocol=tcp",
            "--host=127.0.0.1",
            &format!("--port={port}"),
            "--user=magento",
            "--batch",
            "--skip-column-names",
            "-e",
            "SELECT id, total FROM magento.sales_order ORDER BY id",
        ],
        &[("MYSQL_PWD", "db-Secret-1")],
        WAIT,
    )
    .await;
    assert_eq!(rows.stdout, "1\t19.99\n2\t5.00\n", "{rows}");

    // An empty or truncated file is refused before it touches the database.
    let broken = backups.join("magento-20260103T000000Z.sql.gz");
    write(&broken, "not gzip");
    let refused = run(
        "bash",
        &[
            "-c",
            &magento::restore_command(),
            "bash",
            &broken.to_string_lossy(),
        ],
        &env,
        WAIT,
    )
    .await;
    assert_ne!(refused.code, Some(0), "{refused}");

    // The runbook as rendered.
    let store = validate::load(kit::spec::EXAMPLE).expect("valid");
    let bundle = kit::render(&store, Target::Kubernetes).expect("renders");
    let Some(Content::Text(runbook)) = bundle.files.get("galera-restore.sh") else {
        panic!("galera-restore.sh");
    };
    let script = dir.join("galera-restore.sh");
    write(&script, runbook);
    let checked = run(
        "shellcheck",
        &["-s", "sh", &script.to_string_lossy()],
        &[],
        WAIT,
    )
    .await;
    assert_eq!(
        checked.code,
        Some(0),
        "shellcheck galera-restore.sh: {checked}"
    );
}
