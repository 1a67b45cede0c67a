"""Renderers of what the store says: the status table and lines (:mod:`.progress`), its rich
terminal form (:mod:`.progress_rich`) and the webstatus charts (:mod:`.webcharts`).  They
read the state layer below and print; the commands above choose which to show."""
