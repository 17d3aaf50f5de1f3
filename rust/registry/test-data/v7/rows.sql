INSERT INTO releases VALUES('f41-41-20261125.n.0',1,'f41-41-20261125.n',0,'f41','41','nightly','20261125','2026-12-01','finished','releases/f41.yaml','9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08','["x86_64"]',1795600800,1795600860,'/srv/releases/f41-41-20261125.n.0',NULL);
INSERT INTO releases VALUES('f41-41-20261125.n.1',2,'f41-41-20261125.n',1,'f41','41','nightly','20261125','2026-12-01','started','releases/f41.yaml','9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08','["x86_64"]',1795600900,NULL,NULL,NULL);
INSERT INTO release_inputs VALUES('f41-41-20261125.n.0',0,'module','php:8.2','php-8.2-20261125.n.0');
INSERT INTO release_inputs VALUES('f41-41-20261125.n.0',1,'stack','apache:2.4','apache-2.4-20261125.n.0');
INSERT INTO release_inputs VALUES('f41-41-20261125.n.1',0,'module','php:8.2','php-8.2-20261125.n.0');
INSERT INTO release_inputs VALUES('f41-41-20261125.n.1',1,'stack','apache:2.4','apache-2.4-20261125.n.0');
INSERT INTO chain_events VALUES(4,'{"event":"build","nvr":"httpd-2.4.58-3.fc40"}',1795600950);
