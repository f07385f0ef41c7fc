-- Run once by the postgres image, on the first start with an empty data volume: one database
-- per service. The services never share tables; each migrates its own database.
CREATE DATABASE orders;
CREATE DATABASE payments;
