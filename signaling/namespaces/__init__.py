"""One socket.io namespace per role: /staff (counsellors), /customer, /supervisor."""
