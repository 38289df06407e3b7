import uninit

print("uninit: decide() ->", uninit.decide())
